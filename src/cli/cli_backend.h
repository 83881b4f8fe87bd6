/* `--backend cpu|cuda` of the training and evaluation commands: the name, and a context
 * of that backend or one clear error with the probe's reason (never a silent fall-back
 * to the CPU). */
#ifndef SSL3D_CLI_BACKEND_H
#define SSL3D_CLI_BACKEND_H
#include "ssl3d.h"

/* Help text of the option, shared by the commands that take it. */
#define CLI_BACKEND_HELP "where the model runs (default cpu); cuda needs the CUDA plugin,\n" \
                         "a driver and a device (`ssl3d info --backends`, docs/cuda.md);\n" \
                         "no fall-back to the CPU"

/* "cpu" -> SSL3D_BACKEND_CPU, "cuda" -> SSL3D_BACKEND_CUDA. Returns 0, or 2 after printing
 * "ssl3d CMD: --backend must be cpu or cuda, got 'NAME'". */
int cli_backend_parse(const char *cmd, const char *name, int32_t *kind);

/* The name of a backend kind ("cpu", "cuda"). */
const char *cli_backend_name(int32_t kind);

/* Create a context of `kind` in *ctx. Returns 0, or 1 after printing one line:
 * "ssl3d CMD: --backend cuda is unavailable: <ssl3d_backend_probe's reason>". */
int cli_backend_ctx(const char *cmd, int32_t kind, ssl3d_ctx **ctx);
#endif
