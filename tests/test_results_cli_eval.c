/* `ssl3d pretrain` validation for the tasks with index limits and >= 2-image calls
 * (CPC, exemplar): the evaluation once used an index offset of ~2^62 ("EVAL" << 32),
 * which ssl3d_task_forward(cpc / exemplar) rejects (index < 2^39 / 2^38), and a lone
 * trailing held-out image made a 1-image call that exemplar and CPC reject.
 * Runs bin/ssl3d (skips when it is not built). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "harness.h"
#include "test_loader_util.h"

#define BIN "./bin/ssl3d"

static int run_quiet(const char *cmd, char *out, size_t cap) {
    char full[8192];
    if ((size_t)snprintf(full, sizeof full, "%s 2>&1", cmd) >= sizeof full) return -1;
    FILE *p = popen(full, "r");
    if (!p) return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(results_cli_pretrain_validation_cpc_exemplar) {
    if (access(BIN, X_OK) != 0) SKIP("bin/ssl3d is not built (run make)");
    char man[1024], cmd[4096], out[8192];
    const char *d = th_tmpdir();
    /* 7 volumes, val-fraction 0.43 -> 3 held out; batch 2 -> chunks of 2 + a lone 1 (folded). */
    REQUIRE(tl_write_dataset(d, 7, 18, 20, 17, man, sizeof man) == 0);
    const char *runs[] = {
        "--task cpc --opt filters=4,levels=2,input_size=16,grid=3,code_size=8,hidden=8",
        "--task exemplar --opt filters=4,levels=2,input_size=16,hidden=8,code_size=8",
    };
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, BIN " pretrain --dims 3 --batch 2 --threads 1 --loader-threads 1 "
                 "--val-fraction 0.43 --data %s --out %s/e%d.safetensors --steps 2 %s", man, d, k, runs[k]);
        int rc = run_quiet(cmd, out, sizeof out);
        CHECK_MSG(rc == 0, "%s: %s", runs[k], out);
        CHECK_MSG(strstr(out, "proxy accuracy") != NULL, "%s: no proxy accuracy in: %s", runs[k], out);
        /* exemplar: the one held-out call has the 3 images -> chance 1/(2*3-1), not the option's 1/15. */
        if (k == 1) CHECK_MSG(strstr(out, "(chance 0.2000)") != NULL, "exemplar chance: %s", out);
    }
}

/* --max-seconds stops a long run early and still evaluates and writes the summary. */
TEST(cli_pretrain_max_seconds_stops_early) {
    if (access(BIN, X_OK) != 0) SKIP("bin/ssl3d is not built (run make)");
    char man[1024], cmd[4096], out[8192], logp[1024];
    const char *d = th_tmpdir();
    REQUIRE(tl_write_dataset(d, 4, 18, 20, 17, man, sizeof man) == 0);
    snprintf(logp, sizeof logp, "%s/ms.jsonl", d);
    snprintf(cmd, sizeof cmd, BIN " pretrain --task rotation --dims 3 --batch 2 --threads 1 --data %s "
             "--out %s/ms.safetensors --steps 1000000 --max-seconds 0.5 --log %s "
             "--opt filters=2,levels=1,input_size=8,hidden=4", man, d, logp);
    int rc = run_quiet(cmd, out, sizeof out);
    CHECK_MSG(rc == 0, "%s", out);
    FILE *f = fopen(logp, "r");
    REQUIRE(f);
    char line[4096], last[4096] = "";
    while (fgets(line, sizeof line, f)) strcpy(last, line);
    fclose(f);
    CHECK_MSG(strstr(last, "\"final\":true") || strstr(last, "\"final\": true"), "last log line: %s", last);
    const char *sp = strstr(last, "\"steps\":");
    REQUIRE(sp);
    long steps = strtol(sp + 8, NULL, 10);
    CHECK_MSG(steps >= 1 && steps < 1000000, "steps %ld", steps);
}
