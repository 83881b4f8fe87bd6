/* IO benchmark: the whole hippocampus data set (200 images + 200 label maps, .nii.gz)
 * read with ssl3d_image_read, compared with nibabel. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ssl3d.h"
#include "bench_io.h"

const char bench_io_nibabel_py[] =
    "import json, os, statistics, sys, time\n"
    "import numpy as np, nibabel as nib\n"
    "d, repeat = sys.argv[1], int(sys.argv[2])\n"
    "files = [os.path.join(d, s, f) for s in ('imagesTr', 'labelsTr')\n"
    "         for f in sorted(os.listdir(os.path.join(d, s))) if f.endswith('.nii.gz')]\n"
    "def run():\n"
    "    for f in files:\n"
    "        a = nib.load(f).get_fdata(dtype=np.float32)\n"
    "        del a\n"
    "run()\n"
    "ts = []\n"
    "for _ in range(repeat):\n"
    "    t = time.perf_counter(); run(); ts.append((time.perf_counter() - t) * 1e3)\n"
    "import resource\n"
    "print(json.dumps({'nibabel': nib.__version__, 'files': len(files), 'workloads': {'" BENCH_IO_NAME "':\n"
    "    {'ms': statistics.median(ts), 'ms_min': min(ts), 'ms_max': max(ts),\n"
    "     'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}}))\n";

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int is_nii_gz(const struct dirent *e) {
    size_t n = strlen(e->d_name);
    return n > 7 && e->d_name[0] != '.' && strcmp(e->d_name + n - 7, ".nii.gz") == 0;
}

/* Paths of the .nii.gz files of hippo_dir/imagesTr and hippo_dir/labelsTr, sorted per folder. */
static char **list_files(const char *hippo_dir, int *count) {
    static const char *const sub[2] = { "imagesTr", "labelsTr" };
    char **paths = NULL;
    int n = 0;
    for (int s = 0; s < 2; s++) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/%s", hippo_dir, sub[s]);
        struct dirent **ents = NULL;
        int k = scandir(dir, &ents, is_nii_gz, alphasort);
        if (k < 0) continue;
        char **grown = realloc(paths, (size_t)(n + k) * sizeof *paths);
        if (grown) paths = grown;
        for (int i = 0; i < k; i++) {
            if (grown) {
                size_t len = strlen(dir) + strlen(ents[i]->d_name) + 2;
                paths[n] = malloc(len);
                if (paths[n]) { snprintf(paths[n], len, "%s/%s", dir, ents[i]->d_name); n++; }
            }
            free(ents[i]);
        }
        free(ents);
    }
    *count = n;
    return paths;
}

static ssl3d_status read_all(ssl3d_ctx *ctx, char **paths, int n, int *failed) {
    for (int i = 0; i < n; i++) {
        ssl3d_image *img = NULL;
        ssl3d_status st = ssl3d_image_read(ctx, paths[i], 0, &img);
        if (st) { *failed = i; return st; }
        ssl3d_image_release(img);
    }
    return SSL3D_OK;
}

int bench_io(const char *hippo_dir, int threads, int repeat, FILE *json_out) {
    if (repeat < 1) repeat = 1;
    int n = 0, failed = -1, rc = 1;
    char **paths = list_files(hippo_dir, &n);
    ssl3d_ctx *ctx = NULL;
    double *ms = malloc((size_t)repeat * sizeof *ms);
    if (n == 0) {
        fprintf(stderr, "bench %s: no .nii.gz files under %s/imagesTr, %s/labelsTr\n", BENCH_IO_NAME, hippo_dir,
                hippo_dir);
        goto done;
    }
    if (!ms || ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK || ssl3d_ctx_set_threads(ctx, threads) != SSL3D_OK) {
        fprintf(stderr, "bench %s: cannot create a CPU context\n", BENCH_IO_NAME);
        goto done;
    }
    ssl3d_status st = read_all(ctx, paths, n, &failed);           /* warm-up: page cache */
    for (int r = 0; r < repeat && !st; r++) {
        double t0 = now_ms();
        st = read_all(ctx, paths, n, &failed);
        ms[r] = now_ms() - t0;
    }
    if (st) {
        fprintf(stderr, "bench %s: %s: %s\n", BENCH_IO_NAME, failed >= 0 ? paths[failed] : "?",
                ssl3d_ctx_last_error(ctx));
        goto done;
    }
    qsort(ms, (size_t)repeat, sizeof *ms, cmp_double);
    double med = repeat % 2 ? ms[repeat / 2] : 0.5 * (ms[repeat / 2 - 1] + ms[repeat / 2]);
    printf("%-22s %9.2f ms (min %.2f, max %.2f, %d files)\n", BENCH_IO_NAME, med, ms[0], ms[repeat - 1], n);
    if (json_out)
        fprintf(json_out, "\"%s\": {\"ms\": %.4f, \"ms_min\": %.4f, \"ms_max\": %.4f, \"files\": %d}", BENCH_IO_NAME,
                med, ms[0], ms[repeat - 1], n);
    rc = 0;
done:
    fflush(stdout);
    for (int i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(ms);
    ssl3d_ctx_release(ctx);
    return rc;
}
