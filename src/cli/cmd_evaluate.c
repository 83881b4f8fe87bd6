/* PLACEHOLDER: `ssl3d evaluate` is not implemented yet; replaced by its owner. */
#include <stdio.h>
#include "cli.h"

int cmd_evaluate(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ssl3d evaluate: not implemented in this build yet\n");
    return 1;
}
