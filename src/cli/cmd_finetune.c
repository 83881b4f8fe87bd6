/* PLACEHOLDER: `ssl3d finetune` is not implemented yet; replaced by its owner. */
#include <stdio.h>
#include "cli.h"

int cmd_finetune(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ssl3d finetune: not implemented in this build yet\n");
    return 1;
}
