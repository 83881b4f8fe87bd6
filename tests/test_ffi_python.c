/* The Python ctypes example runs against the built shared library (skips when python3 with
 * NumPy or lib/libssl3d.so.0 is missing): the C ABI is usable through FFI as documented. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"

TEST(python_ctypes_example_runs) {
    if (access("lib/libssl3d.so.0", R_OK) != 0) SKIP("lib/libssl3d.so.0 is not built (run make)");
    if (system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") != 0) SKIP("python3 with numpy is not installed");
    FILE *p = popen("/usr/bin/python3 examples/python/ssl3d_ffi.py lib/libssl3d.so.0 2>&1", "r");
    REQUIRE(p);
    char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "python example failed:\n%s", out);
    CHECK_MSG(strstr(out, "rotation class 1 changed the volume: True sum kept: True") != NULL, "%s", out);
    CHECK_MSG(strstr(out, "bottleneck shape: (2, 16, 2, 2, 2)") != NULL, "%s", out);
    CHECK_MSG(strstr(out, "expected error: SSL3D_ERR_SHAPE") != NULL, "%s", out);
}
