/* Benchmark of proxy-task sample construction (S1-S3 of ../shared/bench/numpy_ref.py). */
#ifndef SSL3D_BENCH_SAMPLES_H
#define SSL3D_BENCH_SAMPLES_H
#include <stdio.h>

/* Time, on a 128^3 single-channel float volume with `threads` threads, `repeat` runs
 * (after one warm-up) of:
 *   S1_exemplar3d_view_128   one Exemplar view (ssl3d_exemplar_view: flips, rot90,
 *                            rotation by a uniform angle in one plane, zoom 0.8-1.2 with
 *                            centred crop/pad back to 128^3, brightness/contrast; one
 *                            trilinear resampling pass)
 *   S2_jigsaw3d_puzzle_128   one 3x3x3 puzzle: 42^3 cells, 39^3 crops (jitter 3),
 *                            permuted by one of 100 permutations
 *   S3_rotation3d_all10_128  all 10 rotation classes into a reused (10,1,128,128,128)
 *                            batch (ssl3d_rotation_all_into), as a training loop does
 *   S3_rotation3d_all10_128_alloc  the same with a fresh 80 MB output every run
 *                            (ssl3d_rotation_all: page faults + zero fill included)
 * Prints one line per workload (median, min, max ms) to stdout. When `json` is not NULL,
 * writes the four members `"NAME": {"ms": median, "ms_min": m, "ms_max": m}` separated
 * by ",\n", with no enclosing braces and no trailing comma, for the caller to place
 * inside its "workloads" object. Returns 0, or 1 after printing an error to stderr. */
int bench_samples(int threads, int repeat, FILE *json);
#endif
