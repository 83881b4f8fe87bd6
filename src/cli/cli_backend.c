/* `--backend cpu|cuda` (cli_backend.h). */
#include <stdio.h>
#include <string.h>
#include "cli_backend.h"
#include "cli_dist.h"
#include "cli_util.h"

int cli_backend_parse(const char *cmd, const char *name, int32_t *kind) {
    if (name && !strcmp(name, "cpu")) *kind = SSL3D_BACKEND_CPU;
    else if (name && !strcmp(name, "cuda")) *kind = SSL3D_BACKEND_CUDA;
    else return cli_usage_error(cmd, "--backend must be cpu or cuda, got '%s'", name ? name : "");
    return 0;
}

const char *cli_backend_name(int32_t kind) { return kind == SSL3D_BACKEND_CUDA ? "cuda" : "cpu"; }

int cli_backend_ctx(const char *cmd, int32_t kind, ssl3d_ctx **ctx) {
    *ctx = NULL;
    /* Under mpirun each rank of a node takes its own device (local rank modulo devices). */
    ssl3d_status st = ssl3d_ctx_create_on_device(kind, cli_dist_device(kind), ctx);
    if (st == SSL3D_OK) return 0;
    char why[1024] = "";
    /* The probe repeats the attempt and says why it failed (plugin, driver, device...). */
    if (st == SSL3D_ERR_BACKEND_UNAVAILABLE && ssl3d_backend_probe(kind, why, sizeof why) != SSL3D_OK && why[0])
        return cli_error(cmd, "--backend %s is unavailable: %s", cli_backend_name(kind), why);
    return cli_error(cmd, "--backend %s: cannot create a context (%s)", cli_backend_name(kind),
                     ssl3d_status_string(st));
}
