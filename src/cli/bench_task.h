/* W6, W7: one training step of a proxy task with its default options, through
 * ssl3d_task_forward (sample building, encoder, heads, loss), backward and Adam:
 *   W6 CPC 3D: 4 images of input_size^3, G^3 patches each, GRU context, InfoNCE;
 *   W7 exemplar 3D: `batch` images of input_size^3, two augmented views each, triplet loss.
 * The PyTorch equivalents are in docs/bench/task_ref.py; the child writes the resolved options
 * into its JSON entry ("options") so the reference builds the same model. */
#ifndef SSL3D_BENCH_TASK_H
#define SSL3D_BENCH_TASK_H
#include <stdio.h>

enum { BENCH_W6 = 6, BENCH_W7 = 7 };

/* "W6_cpc3d_step", "W7_exemplar3d_step", or NULL. */
const char *bench_task_name(int w);

/* Times workload w with `threads` threads: warm-up, then `repeat` timed steps. Prints one
 * line; when json_out is not NULL writes `"NAME": {"ms", "ms_min", "ms_max",
 * "warmup_runs", "warmup_last_faults", "images", "options"}` (no braces around it). */
int bench_task(int w, int threads, int repeat, FILE *json_out);
#endif
