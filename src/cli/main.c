#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ssl3d.h"
#include "cli.h"
#include "cli_dist.h"

typedef struct { const char *name; int (*fn)(int, char **); const char *summary; } command;

static const command commands[] = {
    { "info", cmd_info, "describe a NIfTI or PNG file (--json)" },
    { "pretrain", cmd_pretrain, "pretrain an encoder with a self-supervised proxy task" },
    { "finetune", cmd_finetune, "fine-tune for segmentation or classification" },
    { "evaluate", cmd_evaluate, "evaluate a fine-tuned model on a manifest" },
    { "protocol", cmd_protocol, "run the data-efficiency protocol" },
    { "bench", cmd_bench, "run the benchmark workloads (--json FILE)" },
    { "demo", cmd_demo, "the built-in demo (what `make demo` runs)" },
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f) {
    fprintf(f, "usage: ssl3d COMMAND [OPTIONS]   (libssl3d %s)\n\ncommands:\n", ssl3d_version());
    for (size_t i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`ssl3d COMMAND --help` describes a command's options.\n");
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) { printf("ssl3d %s\n", ssl3d_version()); return 0; }
    /* OpenMP threads that spin at barriers stall badly when the cores are shared (20-30x
     * slower measured on a loaded 2-core machine), so the tools sleep at barriers unless the
     * user chose otherwise. `bench` keeps OpenMP's default, the reference scripts' setting.
     * The library itself never touches the environment. */
    if (strcmp(argv[1], "bench") != 0) setenv("OMP_WAIT_POLICY", "passive", 0);
    /* A forced kernel ISA this CPU lacks (or a typo) would make every context creation
     * fail; say why once, up front, instead of each command's generic message. */
    const char *isa = getenv("SSL3D_CPU_ISA");
    if (isa && *isa && strcmp(argv[1], "info") != 0) {
        char why[256];
        if (ssl3d_backend_probe(SSL3D_BACKEND_CPU, why, sizeof why) != SSL3D_OK) {
            fprintf(stderr, "ssl3d %s: %s\n", argv[1], why);
            return 1;
        }
    }
    /* The training commands join an MPI job when mpirun/srun started several ranks. */
    const int dist = !strcmp(argv[1], "pretrain") || !strcmp(argv[1], "finetune");
    if (dist && cli_dist_start(argv[1])) return 1;
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) {
            int rc = commands[i].fn(argc - 1, argv + 1);
            return dist ? cli_dist_finish(rc) : rc;
        }
    fprintf(stderr, "ssl3d: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
