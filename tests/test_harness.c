/* The test runner itself: a hung test is stopped at its time limit and reported as
 * failed with its name, and the run goes on. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"

/* Fixture of the next test: hangs only when the runner is started by that test. */
TEST(harness_fixture_hangs) {
    if (!getenv("SSL3D_TEST_HANG_FIXTURE")) SKIP("fixture of harness_times_out_a_hung_test");
    for (;;) pause();
}

TEST(harness_times_out_a_hung_test) {
    char exe[1024], cmd[1400], out[4096] = { 0 };
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    REQUIRE(n > 0);
    exe[n] = 0;
    snprintf(cmd, sizeof cmd, "SSL3D_TEST_HANG_FIXTURE=1 SSL3D_TEST_TIMEOUT=1 '%s' harness_fixture_hangs 2>&1", exe);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    const int rc = pclose(p);
    CHECK_MSG(rc != 0, "the runner exited 0 after a hung test:\n%s", out);
    CHECK_MSG(strstr(out, "timed out after 1 s: harness_fixture_hangs") != NULL, "no timeout line:\n%s", out);
    CHECK_MSG(strstr(out, "FAIL harness_fixture_hangs") != NULL, "not reported as failed:\n%s", out);
    CHECK_MSG(strstr(out, "0 passed, 1 failed") != NULL, "wrong summary:\n%s", out);
}
