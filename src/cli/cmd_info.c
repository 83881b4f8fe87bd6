/* PLACEHOLDER: `ssl3d info` is not implemented yet; replaced by its owner. */
#include <stdio.h>
#include "cli.h"

int cmd_info(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ssl3d info: not implemented in this build yet\n");
    return 1;
}
