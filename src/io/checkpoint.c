/*
 * Public checkpoint API: building a checkpoint from tensors and metadata, atomic saves,
 * loads from files or memory (validation lives in safetensors.c), queries and restores.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "safetensors.h"

#define QCAP 96

/* "'path'" (control bytes replaced, long paths cut) as a malloc'd label. */
static char *path_label(const char *path) {
    char q[208], *s = malloc(sizeof q + 2);
    if (s) snprintf(s, sizeof q + 2, "'%s'", ssl3d_st_quote(path, q, sizeof q));
    return s;
}

static ssl3d_status check_ck(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *fn) {
    if (!ck) return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: checkpoint is NULL", fn);
    return SSL3D_OK;
}

static ssl3d_status check_name(ssl3d_ctx *ctx, const char *name, const char *fn, const char *what) {
    char q[QCAP];
    const char *why = ssl3d_st_name_problem(name);
    if (why)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s '%s' is invalid: %s", fn, what,
                               ssl3d_st_quote(name, q, sizeof q), why);
    return SSL3D_OK;
}

/* The entry called `name`, or NOT_FOUND naming it. */
static ssl3d_status lookup(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *name, const char *fn,
                           const ssl3d_st_entry **e) {
    char q[QCAP];
    SSL3D_CHECK(check_ck(ctx, ck, fn));
    SSL3D_CHECK_ARG(ctx, name, "%s: name is NULL", fn);
    int64_t i = ssl3d_st_find(ck, name);
    if (i < 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_NOT_FOUND, "%s: checkpoint %s has no tensor '%s'", fn, ck->label,
                               ssl3d_st_quote(name, q, sizeof q));
    *e = &ck->t[i];
    return SSL3D_OK;
}

/* dtype and shape that the library gives the entry, or UNSUPPORTED naming it. */
static ssl3d_status usable(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const ssl3d_st_entry *e, const char *fn,
                           int32_t *dtype, int32_t *ndim, int64_t *shape) {
    char q[QCAP];
    ssl3d_st_quote(e->name, q, sizeof q);
    int32_t dt = ssl3d_st_target_dtype(e->dtype);
    if (dt < 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED,
                               "%s: checkpoint %s: tensor '%s' has dtype %s, which converts to neither float32 nor int32",
                               fn, ck->label, q, ssl3d_st_dtype_name(e->dtype));
    if (e->ndim > SSL3D_MAX_DIMS)
        return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED, "%s: checkpoint %s: tensor '%s' has %d dims, more than %d",
                               fn, ck->label, q, (int)e->ndim, SSL3D_MAX_DIMS);
    if (e->numel == 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED,
                               "%s: checkpoint %s: tensor '%s' has no elements (a zero dim); library tensors need dims >= 1",
                               fn, ck->label, q);
    *dtype = dt;
    if (e->ndim == 0) { *ndim = 1; shape[0] = 1; }   /* zero-dim tensor: one element */
    else { *ndim = e->ndim; memcpy(shape, e->shape, (size_t)e->ndim * sizeof *shape); }
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- building */

ssl3d_status ssl3d_checkpoint_create(ssl3d_ctx *ctx, ssl3d_checkpoint **out) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "ssl3d_checkpoint_create: out is NULL");
    ssl3d_checkpoint *ck = ssl3d_st_new("(in memory)");
    if (!ck) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "ssl3d_checkpoint_create: out of memory");
    *out = ck;
    return SSL3D_OK;
}

void ssl3d_checkpoint_release(ssl3d_checkpoint *ck) { ssl3d_st_free(ck); }

ssl3d_status ssl3d_checkpoint_add_tensor(ssl3d_ctx *ctx, ssl3d_checkpoint *ck, const char *name,
                                         const ssl3d_tensor *t) {
    static const char fn[] = "ssl3d_checkpoint_add_tensor";
    char q[QCAP];
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(check_ck(ctx, ck, fn));
    SSL3D_CHECK(check_name(ctx, name, fn, "tensor name"));
    if (!strcmp(name, "__metadata__"))
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: tensor name '__metadata__' is reserved", fn);
    SSL3D_CHECK_ARG(ctx, t, "%s: tensor '%s' is NULL", fn, ssl3d_st_quote(name, q, sizeof q));
    SSL3D_CHECK_ARG(ctx, t->ctx == ctx, "%s: tensor '%s' belongs to another context", fn, ssl3d_st_quote(name, q, sizeof q));
    if (ssl3d_st_find(ck, name) >= 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: checkpoint already has a tensor '%s'", fn,
                               ssl3d_st_quote(name, q, sizeof q));
    if (ck->n_t == ck->cap_t) {
        int64_t cap = ck->cap_t ? 2 * ck->cap_t : 16;
        ssl3d_st_entry *grown = realloc(ck->t, (size_t)cap * sizeof *grown);
        if (!grown) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
        ck->t = grown;
        ck->cap_t = cap;
    }
    ssl3d_st_entry e = { 0 };
    size_t nbytes = (size_t)t->numel * 4u;
    e.name = strdup(name);
    e.shape = malloc((size_t)t->ndim * sizeof *e.shape);
    e.owned = malloc(nbytes);
    if (!e.name || !e.shape || !e.owned) {
        free(e.name); free(e.shape); free(e.owned);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory copying tensor '%s'", fn,
                               ssl3d_st_quote(name, q, sizeof q));
    }
    ssl3d_status st = ssl3d_tensor_read(ctx, t, e.owned, (int64_t)nbytes);
    if (st != SSL3D_OK) {
        free(e.name); free(e.shape); free(e.owned);
        return st;
    }
    if (!ssl3d_st_host_is_le())   /* the file holds little-endian words */
        for (size_t i = 0; i < nbytes; i += 4) {
            uint8_t *w = e.owned + i, a = w[0], b = w[1];
            w[0] = w[3]; w[1] = w[2]; w[2] = b; w[3] = a;
        }
    e.dtype = t->dtype == SSL3D_F32 ? SSL3D_ST_F32 : SSL3D_ST_I32;
    e.ndim = t->ndim;
    memcpy(e.shape, t->shape, (size_t)t->ndim * sizeof *e.shape);
    e.numel = t->numel;
    e.nbytes = nbytes;
    e.data = e.owned;
    /* Insert in name order. */
    int64_t pos = 0;
    while (pos < ck->n_t && strcmp(ck->t[pos].name, name) < 0) pos++;
    memmove(&ck->t[pos + 1], &ck->t[pos], (size_t)(ck->n_t - pos) * sizeof *ck->t);
    ck->t[pos] = e;
    ck->n_t++;
    return SSL3D_OK;
}

ssl3d_status ssl3d_checkpoint_set_meta(ssl3d_ctx *ctx, ssl3d_checkpoint *ck, const char *key, const char *value) {
    static const char fn[] = "ssl3d_checkpoint_set_meta";
    char q[QCAP];
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(check_ck(ctx, ck, fn));
    SSL3D_CHECK(check_name(ctx, key, fn, "metadata key"));
    SSL3D_CHECK_ARG(ctx, value, "%s: value of key '%s' is NULL", fn, ssl3d_st_quote(key, q, sizeof q));
    size_t vlen = strlen(value);
    size_t bad = ssl3d_st_utf8_check((const uint8_t *)value, vlen);
    SSL3D_CHECK_ARG(ctx, bad == vlen, "%s: value of key '%s' is not valid UTF-8 (byte %zu)", fn,
                    ssl3d_st_quote(key, q, sizeof q), bad);
    SSL3D_CHECK_ARG(ctx, vlen <= SSL3D_CHECKPOINT_HEADER_MAX, "%s: value of key '%s' is %zu bytes, over the header limit",
                    fn, ssl3d_st_quote(key, q, sizeof q), vlen);
    char *v = strdup(value);
    if (!v) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    int64_t i = ssl3d_st_find_meta(ck, key);
    if (i >= 0) {
        free(ck->m[i].value);
        ck->m[i].value = v;
        return SSL3D_OK;
    }
    char *k = strdup(key);
    if (!k) { free(v); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); }
    if (ck->n_m == ck->cap_m) {
        int64_t cap = ck->cap_m ? 2 * ck->cap_m : 8;
        ssl3d_st_meta *grown = realloc(ck->m, (size_t)cap * sizeof *grown);
        if (!grown) { free(k); free(v); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); }
        ck->m = grown;
        ck->cap_m = cap;
    }
    int64_t pos = 0;
    while (pos < ck->n_m && strcmp(ck->m[pos].key, key) < 0) pos++;
    memmove(&ck->m[pos + 1], &ck->m[pos], (size_t)(ck->n_m - pos) * sizeof *ck->m);
    ck->m[pos].key = k;
    ck->m[pos].value = v;
    ck->n_m++;
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- saving */

static int write_all(int fd, const void *buf, size_t n) {
    const uint8_t *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Make the rename durable; best effort (some file systems refuse fsync on directories). */
static void sync_parent_dir(const char *path) {
    char *dir = strdup(path);
    if (!dir) return;
    char *slash = strrchr(dir, '/');
    const char *d = dir;
    if (!slash) d = ".";
    else if (slash == dir) slash[1] = '\0';
    else *slash = '\0';
    int fd = open(d, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (fsync(fd) != 0) { /* not fatal: the data itself is already on disk */ }
        close(fd);
    }
    free(dir);
}

ssl3d_status ssl3d_checkpoint_save(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *path) {
    static const char fn[] = "ssl3d_checkpoint_save";
    char q[208];
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(check_ck(ctx, ck, fn));
    SSL3D_CHECK_ARG(ctx, path && path[0], "%s: path is %s", fn, path ? "empty" : "NULL");
    ssl3d_st_quote(path, q, sizeof q);
    char *hdr = NULL;
    size_t hlen = 0;
    SSL3D_CHECK(ssl3d_st_header(ctx, ck, &hdr, &hlen));
    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp) { free(hdr); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); }
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());

    ssl3d_status st = SSL3D_OK;
    const char *step = NULL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) {   /* left over by a crashed process with our pid */
        unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (fd < 0) {
        st = ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: cannot create temporary file for '%s': %s", fn, q, strerror(errno));
        free(tmp);
        free(hdr);
        return st;
    }
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    if (write_all(fd, len8, 8) || write_all(fd, hdr, hlen)) step = "write";
    for (int64_t i = 0; !step && i < ck->n_t; i++)
        if (write_all(fd, ck->t[i].data, (size_t)ck->t[i].nbytes)) step = "write";
    if (!step && fsync(fd) != 0) step = "fsync";
    int err = errno;
    if (close(fd) != 0 && !step) { step = "close"; err = errno; }
    if (!step && rename(tmp, path) != 0) { step = "rename"; err = errno; }
    if (step) {
        unlink(tmp);
        st = ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: cannot save '%s' (%s failed: %s); existing file left untouched",
                             fn, q, step, strerror(err));
    } else {
        sync_parent_dir(path);
    }
    free(tmp);
    free(hdr);
    return st;
}

/* ---------------------------------------------------------------- loading */

ssl3d_status ssl3d_checkpoint_load(ssl3d_ctx *ctx, const char *path, ssl3d_checkpoint **out) {
    static const char fn[] = "ssl3d_checkpoint_load";
    char q[208];
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, path && path[0], "%s: path is %s", fn, path ? "empty" : "NULL");
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    ssl3d_st_quote(path, q, sizeof q);
    /* O_NONBLOCK: a FIFO at `path` must not block the open; no effect on regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: cannot open '%s': %s", fn, q, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int err = errno;
        close(fd);
        return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: cannot stat '%s': %s", fn, q, strerror(err));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: '%s' is not a regular file", fn, q);
    }
    if ((uint64_t)sb.st_size >= (uint64_t)SIZE_MAX) {
        close(fd);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: '%s' is too large to load", fn, q);
    }
    size_t cap = (size_t)sb.st_size, len = 0;
    uint8_t *buf = malloc(cap ? cap : 1);
    if (!buf) {
        close(fd);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory for the %zu bytes of '%s'", fn, cap, q);
    }
    /* Read what fstat announced; a file that shrinks meanwhile is just shorter. */
    while (len < cap) {
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int err = errno;
            close(fd);
            free(buf);
            return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: cannot read '%s': %s", fn, q, strerror(err));
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    char *label = path_label(path);
    if (!label) { free(buf); return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); }
    ssl3d_checkpoint *ck;
    SSL3D_CHECK(ssl3d_st_parse(ctx, label, buf, len, &ck));
    *out = ck;
    return SSL3D_OK;
}

ssl3d_status ssl3d_checkpoint_load_memory(ssl3d_ctx *ctx, const void *data, int64_t nbytes, ssl3d_checkpoint **out) {
    static const char fn[] = "ssl3d_checkpoint_load_memory";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, nbytes >= 0, "%s: nbytes is %lld", fn, (long long)nbytes);
    SSL3D_CHECK_ARG(ctx, data || nbytes == 0, "%s: data is NULL", fn);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    if ((uint64_t)nbytes >= (uint64_t)SIZE_MAX)
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: %lld bytes do not fit in memory", fn, (long long)nbytes);
    uint8_t *buf = malloc(nbytes ? (size_t)nbytes : 1);
    char *label = strdup("(memory)");
    if (!buf || !label) {
        free(buf);
        free(label);
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory for %lld bytes", fn, (long long)nbytes);
    }
    if (nbytes) memcpy(buf, data, (size_t)nbytes);
    ssl3d_checkpoint *ck;
    SSL3D_CHECK(ssl3d_st_parse(ctx, label, buf, (size_t)nbytes, &ck));
    *out = ck;
    return SSL3D_OK;
}

/* ---------------------------------------------------------------- queries */

int64_t ssl3d_checkpoint_tensor_count(const ssl3d_checkpoint *ck) { return ck ? ck->n_t : 0; }

const char *ssl3d_checkpoint_tensor_name(const ssl3d_checkpoint *ck, int64_t i) {
    return (ck && i >= 0 && i < ck->n_t) ? ck->t[i].name : NULL;
}

int64_t ssl3d_checkpoint_meta_count(const ssl3d_checkpoint *ck) { return ck ? ck->n_m : 0; }

const char *ssl3d_checkpoint_meta_key(const ssl3d_checkpoint *ck, int64_t i) {
    return (ck && i >= 0 && i < ck->n_m) ? ck->m[i].key : NULL;
}

ssl3d_status ssl3d_checkpoint_get_meta(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *key,
                                       const char **value) {
    static const char fn[] = "ssl3d_checkpoint_get_meta";
    char q[QCAP];
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK(check_ck(ctx, ck, fn));
    SSL3D_CHECK_ARG(ctx, key, "%s: key is NULL", fn);
    SSL3D_CHECK_ARG(ctx, value, "%s: value is NULL", fn);
    int64_t i = ssl3d_st_find_meta(ck, key);
    if (i < 0)
        return ssl3d_set_error(ctx, SSL3D_ERR_NOT_FOUND, "%s: checkpoint %s has no metadata key '%s'", fn, ck->label,
                               ssl3d_st_quote(key, q, sizeof q));
    *value = ck->m[i].value;
    return SSL3D_OK;
}

ssl3d_status ssl3d_checkpoint_tensor_info(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *name,
                                          int32_t *dtype, int32_t *ndim, int64_t *shape, int32_t cap) {
    static const char fn[] = "ssl3d_checkpoint_tensor_info";
    SSL3D_CHECK_CTX(ctx);
    const ssl3d_st_entry *e = NULL;
    SSL3D_CHECK(lookup(ctx, ck, name, fn, &e));
    int32_t dt, nd;
    int64_t sh[SSL3D_MAX_DIMS];
    SSL3D_CHECK(usable(ctx, ck, e, fn, &dt, &nd, sh));
    SSL3D_CHECK_ARG(ctx, !shape || cap >= nd, "%s: shape capacity %d is below the rank %d", fn, (int)cap, (int)nd);
    if (dtype) *dtype = dt;
    if (ndim) *ndim = nd;
    if (shape) memcpy(shape, sh, (size_t)nd * sizeof *sh);
    return SSL3D_OK;
}

/* Values of e converted to the library dtype, written into dst via tensor_write. */
static ssl3d_status write_values(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const ssl3d_st_entry *e,
                                 ssl3d_tensor *dst, const char *fn) {
    int64_t nbytes = e->numel * 4;
    if ((e->dtype == SSL3D_ST_F32 || e->dtype == SSL3D_ST_I32) && ssl3d_st_host_is_le())
        return ssl3d_tensor_write(ctx, dst, e->data, nbytes);   /* already in host layout */
    void *tmp = malloc((size_t)nbytes);
    if (!tmp) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    ssl3d_status st = ssl3d_st_convert(ctx, fn, ck, e, tmp);
    if (st == SSL3D_OK) st = ssl3d_tensor_write(ctx, dst, tmp, nbytes);
    free(tmp);
    return st;
}

ssl3d_status ssl3d_checkpoint_get_tensor(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *name,
                                         ssl3d_tensor **out) {
    static const char fn[] = "ssl3d_checkpoint_get_tensor";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, out, "%s: out is NULL", fn);
    const ssl3d_st_entry *e = NULL;
    SSL3D_CHECK(lookup(ctx, ck, name, fn, &e));
    int32_t dt, nd;
    int64_t sh[SSL3D_MAX_DIMS];
    SSL3D_CHECK(usable(ctx, ck, e, fn, &dt, &nd, sh));
    ssl3d_tensor *t;
    SSL3D_CHECK(ssl3d_tensor_new(ctx, dt, nd, sh, &t));
    ssl3d_status st = write_values(ctx, ck, e, t, fn);
    if (st != SSL3D_OK) {
        ssl3d_tensor_release(t);
        return st;
    }
    *out = t;
    return SSL3D_OK;
}

ssl3d_status ssl3d_checkpoint_copy_into(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, const char *name,
                                        ssl3d_tensor *dst) {
    static const char fn[] = "ssl3d_checkpoint_copy_into";
    char q[QCAP], s1[128], s2[128];
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, dst, "%s: dst is NULL", fn);
    SSL3D_CHECK_ARG(ctx, dst->ctx == ctx, "%s: dst belongs to another context", fn);
    const ssl3d_st_entry *e = NULL;
    SSL3D_CHECK(lookup(ctx, ck, name, fn, &e));
    int32_t dt, nd;
    int64_t sh[SSL3D_MAX_DIMS];
    SSL3D_CHECK(usable(ctx, ck, e, fn, &dt, &nd, sh));
    ssl3d_st_quote(name, q, sizeof q);
    if (dt != dst->dtype)
        return ssl3d_set_error(ctx, SSL3D_ERR_DTYPE, "%s: checkpoint %s: tensor '%s' is %s (-> %s) but dst is %s", fn,
                               ck->label, q, ssl3d_st_dtype_name(e->dtype), dt == SSL3D_F32 ? "float32" : "int32",
                               dst->dtype == SSL3D_F32 ? "float32" : "int32");
    int same = nd == dst->ndim;
    for (int32_t i = 0; same && i < nd; i++) same = sh[i] == dst->shape[i];
    if (!same) {
        size_t o = 0;
        o += (size_t)snprintf(s1, sizeof s1, "(");
        for (int32_t i = 0; i < nd && o < sizeof s1; i++)
            o += (size_t)snprintf(s1 + o, sizeof s1 - o, "%s%lld", i ? "," : "", (long long)sh[i]);
        if (o < sizeof s1) snprintf(s1 + o, sizeof s1 - o, ")");
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: checkpoint %s: tensor '%s' has shape %s but dst has shape %s",
                               fn, ck->label, q, s1, ssl3d_shape_str(dst, s2, sizeof s2));
    }
    return write_values(ctx, ck, e, dst, fn);
}
