/* Cost of elastic deformation per 40^3 fine-tuning patch (docs/finetune.md, "The training
 * recipe"): ft_aug_patch on a one-channel 48 x 56 x 48 volume and its label map, rotation and
 * scaling always on, without and with the elastic field (sigma drawn in nnU-Net's 9-13), and
 * the field alone. Process CPU time with 1 thread, which stays comparable on a machine shared
 * with other jobs; median over `reps` patches (each its own draw).
 *   cc -O2 -fopenmp -Isrc -Iinclude -o /tmp/elastic_cost docs/bench/elastic_cost.c lib/libssl3d.a \
 *      -lopenblas -lcjson -lnifti2 -lznz -lpng -lz -lm
 *   OMP_WAIT_POLICY=passive /tmp/elastic_cost 200 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "finetune/finetune_recipe.h"

static double cpu_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 200;
    if (reps < 1 || reps > 100000) reps = 200;
    const int64_t S[3] = { 48, 56, 48 }, p[3] = { 40, 40, 40 }, off[3] = { 4, 8, 4 }, pv = 40 * 40 * 40;
    const int64_t sv = S[0] * S[1] * S[2];
    float *src = malloc((size_t)sv * 4), *dst = malloc((size_t)pv * 4), *scratch = malloc(4 * (size_t)pv * 4);
    int32_t *lab = malloc((size_t)sv * 4), *ldst = malloc((size_t)pv * 4);
    double *ms = malloc((size_t)reps * sizeof *ms);
    if (!src || !dst || !scratch || !lab || !ldst || !ms) return 1;
    for (int64_t i = 0; i < sv; i++) { src[i] = (float)(i % 97); lab[i] = (int32_t)(i % 3); }
    ft_recipe rc;
    ft_recipe_defaults(&rc, SSL3D_FT_SEGMENT);
    ft_recipe_finish(&rc, 1);
    const char *names[3] = { "rotation + scaling", "rotation + scaling + elastic", "elastic field alone" };
    for (int mode = 0; mode < 3; mode++) {
        ft_aug a = rc.aug;
        a.noise_prob = a.blur_prob = a.bright_prob = a.contrast_prob = a.gamma_prob = 0;
        a.rot_prob = a.scale_prob = 1;
        a.elastic_prob = mode > 0 ? 1.0f : 0.0f;
        for (int k = 0; k < reps; k++) {
            ssl3d_rng r;
            ssl3d_rng_init(&r, 1, (uint64_t)k);
            double t0 = cpu_ms();
            if (mode == 2) ft_elastic_field(&a, 0, &r, p, scratch, scratch + 3 * pv, 1);
            else ft_aug_patch(&a, 0, &r, src, lab, 1, S, off, p, dst, ldst, scratch, 1);
            ms[k] = cpu_ms() - t0;
        }
        qsort(ms, (size_t)reps, sizeof *ms, cmp);
        printf("%-30s %d patches of 40^3, 1 thread: median %.2f ms CPU, best %.2f\n", names[mode], reps,
               ms[reps / 2], ms[0]);
    }
    free(src); free(dst); free(scratch); free(lab); free(ldst); free(ms);
    return 0;
}
