/* W2-W5 benchmark workloads: one training step of each proxy task / fine-tuning setup of
 * ../shared/bench/torch_ref.py, built through the public API with the same shapes and
 * architectures (U-Net encoder conv3-BN-ReLU x2 per level with biases, batch norm in
 * training mode, GAP-MLP heads, Adam lr 1e-4). */
#ifndef SSL3D_BENCH_TRAIN_H
#define SSL3D_BENCH_TRAIN_H
#include <stdio.h>

/* Workload ids, in the order of the reference script. */
enum { BENCH_W2 = 2, BENCH_W3 = 3, BENCH_W4 = 4, BENCH_W5 = 5 };

/* Reference-script name of workload w ("W2_rotation3d_step", ...), or NULL. */
const char *bench_train_name(int w);

/* Times workload w (BENCH_W2..BENCH_W5) with `threads` threads: inputs and labels are
 * drawn once, then 2 warm-up steps and `repeat` timed steps, one step = zero the
 * gradients, forward, loss, backward, Adam step. Prints one line (median, min, max ms)
 * to stdout; when `phases` is non-zero also the median of each phase (zero_grad,
 * forward, loss, backward, step). When json_out is not NULL writes the member
 * `"NAME": {"ms": m, "ms_min": m, "ms_max": m}` (no braces around it, no comma).
 * `backend` is an ssl3d_backend_kind: on a device backend each step ends with the device
 * idle (ssl3d_optim_step waits), so step times are device times; the phase times are
 * host-side and only meaningful on the CPU.
 * Returns 0, or 1 after printing the library error to stderr. */
int bench_train(int w, int backend, int threads, int repeat, int phases, FILE *json_out);
#endif
