/* Shared helpers of the ssl3d subcommands: table-driven option parsing with generated
 * --help, error messages, a progress line (\r-updated on a terminal, plain lines
 * otherwise), a JSONL writer (cJSON) and a monotonic clock. */
#ifndef SSL3D_CLI_UTIL_H
#define SSL3D_CLI_UTIL_H
#include <stdint.h>
#include <stdio.h>
#include <cjson/cJSON.h>

/* ---------------------------------------------------------------- options */

typedef enum { CLI_STR, CLI_INT, CLI_DOUBLE, CLI_FLAG, CLI_CHOICE } cli_kind;

/* One option: `name` without dashes ("steps" for --steps). dst points to a const char *
 * (CLI_STR), int64_t (CLI_INT), double (CLI_DOUBLE), int (CLI_FLAG: set to 1) or
 * const char * (CLI_CHOICE: one of `choices`, a '|'-separated list). lo/hi bound
 * CLI_INT / CLI_DOUBLE values (inclusive; lo > hi means unbounded). `seen` is set by the
 * parser. `metavar` is shown in the help ("N", "FILE"). */
typedef struct cli_opt {
    const char *name;
    cli_kind kind;
    void *dst;
    const char *metavar;
    const char *help;
    double lo, hi;
    const char *choices;
    int seen;
} cli_opt;

/* Parse argv[1..argc) (argv[0] is the subcommand name) as "--name value" or
 * "--name=value". Positional arguments go to positional[0..max_pos) (count in *n_pos;
 * positional may be NULL when none are accepted). Returns 0 to go on, -1 when --help
 * was printed (exit 0), 2 after printing a usage error naming the option. */
typedef struct cli_help {
    const char *synopsis, *description, *epilogue;
} cli_help;
int cli_parse(const char *cmd, const cli_help *help, int argc, char **argv, cli_opt *opts, int n_opts,
              const char **positional, int max_pos, int *n_pos);
/* For the subcommands that walk argv by hand (evaluate, finetune, protocol, bench), which
 * keep the last value of an option given twice: 0, or 2 after a usage error naming the
 * first option ("--name" or "--name=value", up to a lone "--") that appears twice and is
 * not in `repeatable` (NULL-terminated, with dashes; NULL for none). A silent choice
 * between two values is how a user evaluates the wrong model or data set. */
int cli_reject_repeats(const char *cmd, int argc, char **argv, const char *const *repeatable);
/* Print "usage: ..." followed by the option table. `synopsis` and `description` are
 * free text (may be NULL). */
void cli_print_help(FILE *f, const char *cmd, const cli_help *help, const cli_opt *opts, int n_opts);
/* The option called `name` (for `seen`), NULL when absent. */
cli_opt *cli_find(cli_opt *opts, int n_opts, const char *name);

/* "ssl3d CMD: message\n" on stderr. Returns 1 (runtime error) for `return cli_error(...)`. */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, exit status 2 (usage error). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---------------------------------------------------------------- time */

/* Seconds on a monotonic clock. */
double cli_now(void);
/* "1h02m03s" / "4m05s" / "12s" into buf. */
const char *cli_format_duration(double seconds, char *buf, size_t cap);

/* ---------------------------------------------------------------- progress */

typedef struct cli_progress {
    FILE *f;
    int tty;          /* 1: rewrite one line with \r */
    int open_line;    /* a \r line is showing */
    size_t last_len;
} cli_progress;

/* Progress on stream f (stderr or stdout); tty detected with isatty. SSL3D_PROGRESS=plain
 * forces plain lines. */
void cli_progress_init(cli_progress *p, FILE *f);
/* Show one line: on a terminal it replaces the previous one, otherwise it is printed
 * when `plain_too` is set (so callers can print plain lines less often). */
void cli_progress_update(cli_progress *p, int plain_too, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Print a line that stays (ends the \r line first). */
void cli_progress_print(cli_progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* End a \r line with a newline. */
void cli_progress_done(cli_progress *p);

/* ---------------------------------------------------------------- JSONL */

typedef struct cli_jsonl {
    FILE *f;
    char *path;
} cli_jsonl;

/* Open path for writing (append = 1 keeps existing lines). On failure prints an error
 * naming the file and returns 1. */
int cli_jsonl_open(const char *cmd, cli_jsonl *j, const char *path, int append);
/* Write obj as one line and flush; deletes obj. Returns 0, or 1 after printing an error
 * naming the file. A NULL writer (j->f NULL) just deletes obj. */
int cli_jsonl_write(const char *cmd, cli_jsonl *j, cJSON *obj);
/* Close; returns 1 after printing an error if the data could not be written. */
int cli_jsonl_close(const char *cmd, cli_jsonl *j);

/* ---------------------------------------------------------------- misc */

/* Whether path names a readable regular file (for early, clear errors). */
int cli_file_readable(const char *path);
/* Whether the directory that would hold `path` exists and is writable. */
int cli_dir_writable(const char *path);
#endif
