/* `ssl3d protocol`: subprocesses and files of the run directory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include "protocol.h"

int proto_spawn(char *const argv[], const char *cwd, const char *out_path, const char *err_path) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return 127;
    if (pid == 0) {
        int fo = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fo < 0 || dup2(fo, 1) < 0) _exit(127);
        close(fo);
        if (err_path) {
            int fe = open(err_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (fe < 0 || dup2(fe, 2) < 0) _exit(127);
            close(fe);
        }
        if (cwd && chdir(cwd) != 0) _exit(127);
        execvp(argv[0], argv);
        fprintf(stderr, "ssl3d protocol: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) return 127;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return 127;
}

int proto_mkdirs(const char *path) {
    char buf[PROTO_PATH];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return -1;
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
    return 0;
}

int proto_exists(const char *path) { return access(path, F_OK) == 0; }

char *proto_slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (cap - n - 1 == 0) {
            char *b2 = cap > (64u << 20) ? NULL : realloc(buf, cap * 2);
            if (!b2) { free(buf); buf = NULL; break; }
            buf = b2;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    return buf;
}

int proto_write_atomic(const char *path, const char *text) {
    /* A temporary name per process: two protocol calls on one run directory (e.g. one per
     * method, side by side) write the same shared files (pool_cases.txt, protocol.cfg, the
     * reports); with one "path.tmp" the second rename failed. */
    char tmp[PROTO_PATH + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    size_t len = strlen(text);
    int bad = fwrite(text, 1, len, f) != len;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, path) != 0) { remove(tmp); return -1; }
    return 0;
}

void proto_pct(double fraction, char *out, size_t cap) {
    snprintf(out, cap, "%g", fraction * 100.0);
}

void proto_run_dir(const proto_opts *o, int m, int f, int s, char *out, size_t cap) {
    char pct[32];
    proto_pct(o->fractions[f], pct, sizeof pct);
    snprintf(out, cap, "%s/runs/%s/f%s/s%ld", o->dir, o->methods[m].name, pct, o->seeds[s]);
}
