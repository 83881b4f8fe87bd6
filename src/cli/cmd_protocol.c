/* PLACEHOLDER: `ssl3d protocol` is not implemented yet; replaced by its owner. */
#include <stdio.h>
#include "cli.h"

int cmd_protocol(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ssl3d protocol: not implemented in this build yet\n");
    return 1;
}
