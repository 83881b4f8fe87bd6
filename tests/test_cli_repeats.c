/* The subcommands that walk argv by hand (evaluate, finetune, protocol, bench) reject an
 * option given twice instead of keeping the last value (cli_reject_repeats), except the
 * options meant to repeat (evaluate --model, finetune --aug, protocol --method, --control,
 * --from-results); protocol also rejects, after "--", the finetune options it sets for each
 * run. Runs bin/ssl3d (skipped when it is not built); nothing here reaches training. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include "harness.h"

/* Exit status of `bin/ssl3d ARGS`, its stderr in err. */
static int ssl3d_stderr(const char *args, char *err, size_t cap) {
    char path[600], cmd[2048];
    snprintf(path, sizeof path, "%s/repeats.err", th_tmpdir());
    snprintf(cmd, sizeof cmd, "./bin/ssl3d %s >/dev/null 2>'%s'", args, path);
    int rc = system(cmd);
    err[0] = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(err, 1, cap - 1, f);
        err[n] = 0;
        fclose(f);
    }
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static const struct {
    const char *args, *message;   /* message NULL: must not be a repeat error */
} cases[] = {
    { "evaluate --model m.safetensors --data a.json --data b.json", "option --data given twice" },
    { "evaluate --model m.safetensors --data a.json --threads 1 --threads=2", "option --threads given twice" },
    { "evaluate --model m1.safetensors --model m2.safetensors --data a.json", NULL },
    { "finetune --kind segment --data a.json --out m.safetensors --epochs 2 --epochs 3", "option --epochs given twice" },
    { "finetune --kind segment --data a.json --out m.safetensors --aug p_rotate=0 --aug p_scale=0", NULL },
    { "bench --only W1 --only W2", "option --only given twice" },
    { "protocol --kind segment --data a.json --data b.json --run-dir d", "option --data given twice" },
    { "protocol --kind segment --data a.json --run-dir d --method a --method b=c.safetensors", NULL },
    { "protocol --kind segment --data a.json --run-dir d -- --seed 3", "the protocol sets --seed for each run" },
    { "protocol --kind segment --data a.json --run-dir d -- --fraction 0.5", "the protocol sets --fraction" },
    { "protocol --kind segment --data a.json --run-dir d -- --epochs 2 --epochs 3", "option --epochs given twice" },
    /* After "--" the protocol's own names are finetune's: --data before and --epochs after
     * are no repeat of each other. */
    { "protocol --kind segment --data a.json --run-dir d --seeds 0 -- --epochs 2 --aug p_rotate=0 --aug p_scale=0",
      NULL },
};

TEST(cli_rejects_an_option_given_twice) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d not built (run make)");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[4096];
        int rc = ssl3d_stderr(cases[i].args, err, sizeof err);
        if (cases[i].message) {
            CHECK_MSG(rc == 2, "ssl3d %s: exit %d, want 2 (%s)", cases[i].args, rc, err);
            CHECK_MSG(strstr(err, cases[i].message) != NULL, "ssl3d %s: stderr '%s' lacks '%s'", cases[i].args, err,
                      cases[i].message);
        } else {
            /* These fail later (no such files), but not for a repeated option. */
            CHECK_MSG(rc != 0 && !strstr(err, "given twice") && !strstr(err, "sets --"),
                      "ssl3d %s: exit %d, stderr '%s'", cases[i].args, rc, err);
        }
    }
}
