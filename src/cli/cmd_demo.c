/* PLACEHOLDER: `ssl3d demo` is not implemented yet; replaced by its owner. */
#include <stdio.h>
#include "cli.h"

int cmd_demo(int argc, char **argv) {
    (void)argc; (void)argv;
    fprintf(stderr, "ssl3d demo: not implemented in this build yet\n");
    return 1;
}
