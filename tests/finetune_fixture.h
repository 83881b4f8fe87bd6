/* The set-up the fine-tuning tests (tests/test_finetune*.c) share: a generated data set
 * (test_finetune_util.h) written into the test's temporary directory and loaded, the tiny
 * models they train, the log of a training run, bitwise comparison of trained weights, and
 * a run stopped and resumed from its state file. Each helper that can fail reports why
 * (th_fail, with the context's last error) and returns NULL or 0, so that a test needs only
 * REQUIRE(...) of its result. */
#ifndef SSL3D_TEST_FINETUNE_FIXTURE_H
#define SSL3D_TEST_FINETUNE_FIXTURE_H
#include <stddef.h>
#include <stdint.h>
#include "harness.h"
#include "test_finetune_util.h"

/* The segmentation set of tf_make_seg_set (n cases from seed) in th_tmpdir(), its
 * dataset.json loaded. */
ssl3d_manifest *tf_seg_manifest(ssl3d_ctx *ctx, int n, uint32_t seed);
/* The CSV classification set of tf_make_cls_set in th_tmpdir(), its labels.csv loaded. */
ssl3d_manifest *tf_cls_manifest(ssl3d_ctx *ctx, int size, int classes, int n_train, int n_val, int n_test,
                                uint32_t seed);

/* A segmentation model with one input channel. */
ssl3d_ftmodel *tf_seg_model(ssl3d_ctx *ctx, int32_t dims, int32_t classes, int32_t filters, int32_t levels,
                            int32_t norm);
/* The tiny model most tests train: 3 classes, 4 filters, 2 levels, batch norm. */
ssl3d_ftmodel *tf_tiny_seg(ssl3d_ctx *ctx, int32_t dims);

/* The epoch lines of a run (the first TF_LOG_LINES kept): user data of tf_log_cb, the
 * ssl3d_ft_epoch_fn that also stops the run after `stop` epochs when stop > 0. */
#define TF_LOG_LINES 8
typedef struct tf_log { int stop, n; char lines[TF_LOG_LINES][640]; } tf_log;
int32_t tf_log_cb(void *user, const char *json);
/* The "loss" of a log line as printed, for bitwise comparisons ("" when absent). */
void tf_loss_text(const char *line, char *out, size_t cap);
/* The same as a number (NAN when absent). */
double tf_loss_value(const char *line);

/* Whether two models of one architecture hold bitwise the same encoder and head tensors
 * (host memory). */
int tf_same_weights(const ssl3d_ftmodel *a, const ssl3d_ftmodel *b);

/* One run of `opts` on a 3D segmentation model (3 classes, batch norm) made three ways:
 * `whole`, uninterrupted; stopped after `stop` epochs with opts + ",resume=<state>"; and
 * `resumed` from that file by a fresh model of another seed, so that every weight must come
 * from the file. `state` is th_tmpdir()/state.safetensors. Returns 1 with both models the
 * caller's to release, or 0 (reported) with none. */
typedef struct tf_resumed {
    ssl3d_ftmodel *whole, *resumed;
    tf_log whole_log, stopped_log, resumed_log;
    int stop;
    char state[600], resume_opts[1024];
} tf_resumed;
int tf_run_resumed(ssl3d_ctx *ctx, const ssl3d_manifest *man, int32_t filters, int32_t levels, const char *opts,
                   int stop, tf_resumed *r);
/* Checks r against a run of `epochs`: the epoch counts, the losses and epoch numbers of the
 * resumed epochs as the uninterrupted run's (printed text), and the final weights bitwise. */
void tf_check_resumed(const tf_resumed *r, int epochs);
/* Checks that a run of `other_opts` resuming from r's state file is refused (invalid
 * argument), the error naming the file and its other options. */
void tf_check_resume_refused(ssl3d_ctx *ctx, const tf_resumed *r, const ssl3d_manifest *man, const char *other_opts);
#endif
