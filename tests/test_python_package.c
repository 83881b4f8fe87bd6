/* The Python package (python/ssl3d) and its pytest suite (python/tests: the Python API
 * against the C results, the PyTorch cross-check of the engine, the examples) run as one
 * test of `make test`, so a pytest failure fails the run and shows pytest's report.
 * Skips when lib/libssl3d.so.0 is not built or $PYTHON (default /usr/bin/python3) lacks
 * NumPy or pytest (`make test` installs python3-numpy, python3-pytest, python3-torch). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"

TEST(python_package_pytest) {
    if (access("lib/libssl3d.so.0", R_OK) != 0) SKIP("lib/libssl3d.so.0 is not built (run make)");
    const char *py = getenv("PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy, pytest' >/dev/null 2>&1", py);
    if (system(cmd) != 0) SKIP("python3 with numpy and pytest is not installed (make test installs them)");
    /* SSL3D_LIBRARY: test this build's library, whatever else is installed. */
    snprintf(cmd, sizeof cmd, "SSL3D_LIBRARY=\"$PWD/lib/libssl3d.so.0\" '%s' -m pytest -q -p no:cacheprovider "
             "--basetemp '%s/pytest' python/tests 2>&1", py, th_tmpdir());
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    /* Keep the last 24 KiB of the report: on failure the summary and tracebacks are at the end. */
    static char out[24576];
    size_t len = 0;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
        if (len + n >= sizeof out) {
            size_t drop = len + n - (sizeof out - 1);
            if (drop > len) drop = len;
            memmove(out, out + drop, len - drop);
            len -= drop;
        }
        if (n > sizeof out - 1 - len) n = sizeof out - 1 - len;
        memcpy(out + len, buf, n);
        len += n;
    }
    out[len] = '\0';
    int st = pclose(p);
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "pytest python/tests failed:\n%s", out);
    CHECK_MSG(strstr(out, " passed") != NULL, "pytest ran no test:\n%s", out);
}
