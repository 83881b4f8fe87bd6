/* Loading backend plugins (plugin.h): find the file, dlopen it, check its entry point and
 * table, keep it. The only state is the handle and table of a plugin that loaded; it is
 * guarded by a mutex so two threads creating their first CUDA contexts load it once. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "plugin.h"

static pthread_mutex_t cuda_lock = PTHREAD_MUTEX_INITIALIZER;
static void *cuda_handle;                 /* never closed: contexts hold its table */
static const ssl3d_backend *cuda_table;

static void say(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *msg, size_t cap, const char *fmt, ...) {
    if (!msg || !cap) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
}

/* Directory of the object that holds this code: libssl3d.so, or the program when it was
 * linked with libssl3d.a. Empty when unknown. */
static void self_dir(char *dir, size_t cap) {
    Dl_info info;
    char path[PATH_MAX] = "";
    dir[0] = '\0';
    if (dladdr((void *)&self_dir, &info) && info.dli_fname && info.dli_fname[0] &&
        realpath(info.dli_fname, path)) {
        /* resolved */
    } else {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        if (n <= 0) return;
        path[n] = '\0';
    }
    char *slash = strrchr(path, '/');
    if (!slash) return;
    *slash = '\0';
    snprintf(dir, cap, "%s", path[0] ? path : "/");
}

/* A dlopen failure caused by a missing or broken CUDA library rather than the plugin. */
static int names_cuda_library(const char *err) {
    return strstr(err, "libcuda") || strstr(err, "libcudnn") || strstr(err, "libcublas") ||
           strstr(err, "libnvrtc") || strstr(err, "libnvJitLink");
}

/* dlopen `path` and check what it holds. Returns the handle, or NULL with the reason. */
static void *open_plugin(const char *path, const ssl3d_backend **table, char *msg, size_t cap) {
    dlerror();
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        e = e ? e : "unknown dlopen error";
        if (names_cuda_library(e))
            say(msg, cap, "CUDA libraries not loadable: %s needs %s (install the CUDA 13 runtime, "
                "cuDNN 9 and cuBLAS, or add their directory to LD_LIBRARY_PATH)", path, e);
        else
            say(msg, cap, "plugin cannot be loaded: %s: %s", path, e);
        return NULL;
    }
    ssl3d_plugin_entry_fn entry;
    *(void **)&entry = dlsym(h, SSL3D_PLUGIN_ENTRY);   /* POSIX's blessed object->function cast */
    if (!entry) {
        say(msg, cap, "plugin invalid: %s exports no %s (not a libssl3d backend plugin)", path,
            SSL3D_PLUGIN_ENTRY);
        dlclose(h);
        return NULL;
    }
    const ssl3d_backend *be = entry();
    if (be && be->abi_version != SSL3D_BACKEND_ABI_VERSION) {
        say(msg, cap, "plugin ABI mismatch: %s has dispatch ABI %u, this libssl3d %s expects %u "
            "(rebuild the plugin with this library)", path, (unsigned)be->abi_version,
            SSL3D_VERSION_STRING, (unsigned)SSL3D_BACKEND_ABI_VERSION);
        dlclose(h);
        return NULL;
    }
    char why[256];
    if (ssl3d_backend_validate(be, SSL3D_BACKEND_CUDA, why, sizeof why) != SSL3D_OK) {
        say(msg, cap, "plugin invalid: %s: %s", path, why);
        dlclose(h);
        return NULL;
    }
    *table = be;
    return h;
}

static int is_file(const char *path) { return access(path, F_OK) == 0; }

/* Find and open the plugin (order in plugin.h). */
static void *find_plugin(const ssl3d_backend **table, char *msg, size_t cap) {
    const char *env = getenv(SSL3D_CUDA_PLUGIN_ENV);
    if (env && env[0]) {
        if (!is_file(env)) {
            say(msg, cap, "plugin not found: %s=%s does not exist", SSL3D_CUDA_PLUGIN_ENV, env);
            return NULL;
        }
        return open_plugin(env, table, msg, cap);
    }
    char dir[PATH_MAX], tried[2][PATH_MAX + 64];
    self_dir(dir, sizeof dir);
    int n = 0;
    if (dir[0]) {
        snprintf(tried[n++], sizeof tried[0], "%s/%s", dir, SSL3D_CUDA_PLUGIN_FILE);
        const char *base = strrchr(dir, '/');
        if (!base || strcmp(base, "/lib") != 0)   /* DIR/../lib is DIR itself otherwise */
            snprintf(tried[n++], sizeof tried[0], "%s/../lib/%s", dir, SSL3D_CUDA_PLUGIN_FILE);
    }
    for (int i = 0; i < n; i++)
        if (is_file(tried[i])) return open_plugin(tried[i], table, msg, cap);
    /* The loader's path. Its "cannot open shared object file" for the plugin's own name
     * means absent; any other failure is the plugin's (or a dependency's). */
    dlerror();
    void *h = dlopen(SSL3D_CUDA_PLUGIN_FILE, RTLD_NOW | RTLD_LOCAL);
    if (h) {
        dlclose(h);   /* present: reopen through the checks */
        return open_plugin(SSL3D_CUDA_PLUGIN_FILE, table, msg, cap);
    }
    const char *e = dlerror();
    e = e ? e : "";
    if (strncmp(e, SSL3D_CUDA_PLUGIN_FILE ":", strlen(SSL3D_CUDA_PLUGIN_FILE) + 1) != 0)
        return open_plugin(SSL3D_CUDA_PLUGIN_FILE, table, msg, cap);   /* reports why */
    char where[2 * PATH_MAX + 256] = "";
    for (int i = 0; i < n; i++) {
        size_t len = strlen(where);
        snprintf(where + len, sizeof where - len, "%s, ", tried[i]);
    }
    say(msg, cap, "plugin not found: tried %sthen %s on the loader path (build it with make "
        "CUDA=1, or set %s to its file)", where, SSL3D_CUDA_PLUGIN_FILE, SSL3D_CUDA_PLUGIN_ENV);
    return NULL;
}

ssl3d_status ssl3d_plugin_cuda(const ssl3d_backend **out, char *msg, size_t cap) {
    if (msg && cap) msg[0] = '\0';
    pthread_mutex_lock(&cuda_lock);
    if (!cuda_table) {
        const ssl3d_backend *be = NULL;
        void *h = find_plugin(&be, msg, cap);
        if (h) { cuda_handle = h; cuda_table = be; }
    }
    const ssl3d_backend *be = cuda_table;
    pthread_mutex_unlock(&cuda_lock);
    if (!be) return SSL3D_ERR_BACKEND_UNAVAILABLE;
    *out = be;
    return SSL3D_OK;
}
