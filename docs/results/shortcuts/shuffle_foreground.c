/* Shuffle the voxels of each volume within its foreground (the non-zero voxels): the
 * values are permuted among the foreground positions (Fisher-Yates, xorshift64* seeded
 * per file), so intensity statistics and the foreground's shape survive while all
 * anatomy is destroyed. A proxy task that still beats chance on such volumes reads the
 * shape of the foreground, the padding or the image border, not the image content.
 *
 * usage: shuffle_foreground OUT_DIR SEED IMAGE.nii.gz...
 * writes OUT_DIR/imagesTr/<name> (float32, same geometry) and OUT_DIR/dataset.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ssl3d.h>

static uint64_t next(uint64_t *s) {
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: %s OUT_DIR SEED IMAGE...\n", argv[0]); return 2; }
    const char *out = argv[1];
    const uint64_t seed = strtoull(argv[2], NULL, 10);
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) return 1;
    char path[4096];
    snprintf(path, sizeof path, "%s/dataset.json", out);
    FILE *js = fopen(path, "w");
    if (!js) { fprintf(stderr, "cannot write %s\n", path); return 1; }
    fprintf(js, "{\n \"name\": \"foreground-shuffled\",\n \"tensorImageSize\": \"3D\",\n \"modality\": {\"0\": \"MRI\"},\n"
                " \"labels\": {\"0\": \"background\"},\n \"numTraining\": %d,\n \"training\": [\n", argc - 3);
    for (int f = 3; f < argc; f++) {
        ssl3d_image *img = NULL;
        ssl3d_tensor *t = NULL;
        if (ssl3d_image_read(ctx, argv[f], 0, &img) != SSL3D_OK ||
            ssl3d_image_to_tensor(ctx, img, 3, &t) != SSL3D_OK) {
            fprintf(stderr, "%s: %s\n", argv[f], ssl3d_ctx_last_error(ctx));
            return 1;
        }
        float *x = ssl3d_tensor_host_data(t);
        const int64_t n = ssl3d_tensor_numel(t);
        int64_t *pos = malloc((size_t)n * sizeof *pos), m = 0;
        for (int64_t i = 0; i < n; i++) if (x[i] != 0.0f) pos[m++] = i;
        uint64_t s = seed * 0x9E3779B97F4A7C15ull + (uint64_t)f * 0xD1B54A32D192ED03ull + 1;
        for (int64_t i = m - 1; i > 0; i--) {
            int64_t j = (int64_t)(next(&s) % (uint64_t)(i + 1));
            float tmp = x[pos[i]]; x[pos[i]] = x[pos[j]]; x[pos[j]] = tmp;
        }
        free(pos);
        const char *base = strrchr(argv[f], '/') ? strrchr(argv[f], '/') + 1 : argv[f];
        snprintf(path, sizeof path, "%s/imagesTr/%s", out, base);
        if (ssl3d_nifti_write(ctx, path, t, img, SSL3D_NIFTI_FLOAT32) != SSL3D_OK) {
            fprintf(stderr, "%s: %s\n", path, ssl3d_ctx_last_error(ctx));
            return 1;
        }
        fprintf(js, "  {\"image\": \"./imagesTr/%s\"}%s\n", base, f + 1 < argc ? "," : "");
        ssl3d_tensor_release(t);
        ssl3d_image_release(img);
    }
    fprintf(js, " ]\n}\n");
    fclose(js);
    ssl3d_ctx_release(ctx);
    return 0;
}
