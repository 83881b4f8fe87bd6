/* PLACEHOLDER: `ssl3d pretrain` is not implemented yet; replaced by its owner. */
#include <stdio.h>
#include "cli.h"

int cmd_pretrain(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ssl3d pretrain: not implemented in this build yet\n");
    return 1;
}
