/* PLACEHOLDER: `ssl3d bench` is not implemented yet; replaced by its owner. */
#include <stdio.h>
#include "cli.h"

int cmd_bench(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ssl3d bench: not implemented in this build yet\n");
    return 1;
}
