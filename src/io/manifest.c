/* Dataset manifests: loading (format dispatch), path resolution, file checks, getters. */
#include <stdio.h>
#include <string.h>
#include "manifest_internal.h"

#define MANIFEST_MAX_BYTES ((size_t)256 << 20)

ssl3d_mcase *ssl3d_manifest_add_case(ssl3d_manifest *m) {
    if (m->n == m->cap) {
        int64_t cap = m->cap ? m->cap * 2 : 64;
        ssl3d_mcase *c = realloc(m->cases, (size_t)cap * sizeof *c);
        if (!c) return NULL;
        m->cases = c;
        m->cap = cap;
    }
    ssl3d_mcase *c = &m->cases[m->n++];
    memset(c, 0, sizeof *c);
    c->label = -1;
    return c;
}

char *ssl3d_manifest_resolve(const ssl3d_manifest *m, const char *rel) {
    while (rel[0] == '.' && rel[1] == '/') rel += 2;
    size_t nd = strlen(m->dir), nr = strlen(rel);
    int abs = rel[0] == '/';
    char *p = malloc((abs ? 0 : nd) + nr + 1);
    if (!p) return NULL;
    if (abs) memcpy(p, rel, nr + 1);
    else { memcpy(p, m->dir, nd); memcpy(p + nd, rel, nr + 1); }
    return p;
}

void ssl3d_manifest_release(ssl3d_manifest *m) {
    if (!m) return;
    for (int64_t i = 0; i < m->n; i++) {
        ssl3d_mcase *c = &m->cases[i];
        for (int32_t j = 0; j < c->n_images; j++) free(c->images[j]);
        free(c->images);
        free(c->label_path);
        free(c->where);
    }
    for (int32_t j = 0; j < m->n_channels; j++) free(m->channels[j]);
    for (int32_t j = 0; j < m->n_labels; j++) free(m->label_names[j]);
    free(m->channels);
    free(m->label_names);
    free(m->label_values);
    free(m->cases);
    free(m->path);
    free(m->dir);
    free(m);
}

static ssl3d_status check_files(ssl3d_ctx *ctx, const char *fn, const ssl3d_manifest *m) {
    for (int64_t i = 0; i < m->n; i++) {
        const ssl3d_mcase *c = &m->cases[i];
        for (int32_t j = 0; j <= c->n_images; j++) {
            const char *p = j < c->n_images ? c->images[j] : c->label_path;
            if (!p) continue;
            ssl3d_status st = ssl3d_io_check_readable(ctx, fn, p);
            if (st != SSL3D_OK)
                return ssl3d_set_error(ctx, st, "%s: %s: %s: missing or unreadable %s file %s", fn, m->path,
                                       c->where ? c->where : "a case", j < c->n_images ? "image" : "label", p);
        }
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_manifest_check_files(ssl3d_ctx *ctx, const ssl3d_manifest *m) {
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m, "ssl3d_manifest_check_files: m is NULL");
    return check_files(ctx, "ssl3d_manifest_check_files", m);
}

static int looks_like_json(const char *path, const unsigned char *buf, size_t len) {
    if (ssl3d_io_ends_with(path, ".json")) return 1;
    if (ssl3d_io_ends_with(path, ".csv")) return 0;
    size_t i = 0;
    if (len >= 3 && buf[0] == 0xEF && buf[1] == 0xBB && buf[2] == 0xBF) i = 3;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n')) i++;
    return i < len && buf[i] == '{';
}

ssl3d_status ssl3d_manifest_load(ssl3d_ctx *ctx, const char *path, uint32_t flags, ssl3d_manifest **out) {
    static const char *fn = "ssl3d_manifest_load";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, path && out, "%s: %s is NULL", fn, path ? "out" : "path");
    SSL3D_CHECK_ARG(ctx, (flags & ~(uint32_t)SSL3D_MANIFEST_SKIP_FILE_CHECK) == 0, "%s: unknown flags 0x%x", fn,
                    (unsigned)flags);
    unsigned char *buf = NULL;
    size_t len = 0;
    SSL3D_CHECK(ssl3d_io_read_file(ctx, fn, path, MANIFEST_MAX_BYTES, &buf, &len));
    ssl3d_manifest *m = calloc(1, sizeof *m);
    ssl3d_status st = SSL3D_OK;
    if (m) {
        m->path = strdup(path);
        const char *slash = strrchr(path, '/');
        size_t nd = slash ? (size_t)(slash - path) + 1 : 0;
        m->dir = malloc(nd + 1);
        if (m->dir) { memcpy(m->dir, path, nd); m->dir[nd] = '\0'; }
    }
    if (!m || !m->path || !m->dir) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    if (st == SSL3D_OK && memchr(buf, 0, len))
        st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: contains NUL bytes (not a text manifest)", fn, path);
    if (st == SSL3D_OK) {
        if (looks_like_json(path, buf, len)) {
            m->kind = SSL3D_MANIFEST_MSD;
            st = ssl3d_manifest_parse_msd(ctx, fn, m, (const char *)buf, len);
        } else {
            m->kind = SSL3D_MANIFEST_CSV;
            st = ssl3d_manifest_parse_csv(ctx, fn, m, (const char *)buf, len);
        }
    }
    free(buf);
    if (st == SSL3D_OK && m->n == 0) st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: no cases", fn, path);
    if (st == SSL3D_OK && !(flags & SSL3D_MANIFEST_SKIP_FILE_CHECK)) st = check_files(ctx, fn, m);
    if (st != SSL3D_OK) { ssl3d_manifest_release(m); return st; }
    *out = m;
    return SSL3D_OK;
}

/* ------------------------------------------------------------ getters */

static const ssl3d_mcase *case_at(const ssl3d_manifest *m, int64_t i) {
    return m && i >= 0 && i < m->n ? &m->cases[i] : NULL;
}

int32_t ssl3d_manifest_kind(const ssl3d_manifest *m) { return m ? m->kind : -1; }
int64_t ssl3d_manifest_count(const ssl3d_manifest *m) { return m ? m->n : 0; }

int64_t ssl3d_manifest_count_split(const ssl3d_manifest *m, int32_t split) {
    int64_t n = 0;
    for (int64_t i = 0; m && i < m->n; i++) n += m->cases[i].split == split;
    return n;
}

int32_t ssl3d_manifest_case_split(const ssl3d_manifest *m, int64_t i) {
    const ssl3d_mcase *c = case_at(m, i);
    return c ? c->split : -1;
}

int32_t ssl3d_manifest_case_num_images(const ssl3d_manifest *m, int64_t i) {
    const ssl3d_mcase *c = case_at(m, i);
    return c ? c->n_images : 0;
}

const char *ssl3d_manifest_case_image(const ssl3d_manifest *m, int64_t i, int32_t j) {
    const ssl3d_mcase *c = case_at(m, i);
    return c && j >= 0 && j < c->n_images ? c->images[j] : NULL;
}

const char *ssl3d_manifest_case_label_path(const ssl3d_manifest *m, int64_t i) {
    const ssl3d_mcase *c = case_at(m, i);
    return c ? c->label_path : NULL;
}

int32_t ssl3d_manifest_case_label(const ssl3d_manifest *m, int64_t i) {
    const ssl3d_mcase *c = case_at(m, i);
    return c ? c->label : -1;
}

int32_t ssl3d_manifest_num_channels(const ssl3d_manifest *m) { return m ? m->n_channels : 0; }

const char *ssl3d_manifest_channel_name(const ssl3d_manifest *m, int32_t j) {
    return m && j >= 0 && j < m->n_channels ? m->channels[j] : NULL;
}

int32_t ssl3d_manifest_num_label_names(const ssl3d_manifest *m) { return m ? m->n_labels : 0; }

int32_t ssl3d_manifest_label_value(const ssl3d_manifest *m, int32_t k) {
    return m && k >= 0 && k < m->n_labels ? m->label_values[k] : -1;
}

const char *ssl3d_manifest_label_name(const ssl3d_manifest *m, int32_t k) {
    return m && k >= 0 && k < m->n_labels ? m->label_names[k] : NULL;
}

int32_t ssl3d_manifest_num_classes(const ssl3d_manifest *m) {
    int32_t mx = -1;
    for (int64_t i = 0; m && i < m->n; i++) mx = m->cases[i].label > mx ? m->cases[i].label : mx;
    return mx + 1;
}

ssl3d_status ssl3d_manifest_case_read(ssl3d_ctx *ctx, const ssl3d_manifest *m, int64_t i, uint32_t flags,
                                      ssl3d_image **image, ssl3d_image **label) {
    static const char *fn = "ssl3d_manifest_case_read";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, m && image, "%s: %s is NULL", fn, m ? "image" : "m");
    const ssl3d_mcase *c = case_at(m, i);
    SSL3D_CHECK_ARG(ctx, c, "%s: case %lld out of range 0..%lld", fn, (long long)i, (long long)m->n - 1);
    ssl3d_image *img = NULL, *lab = NULL;
    SSL3D_CHECK(ssl3d_image_read_channels(ctx, (const char *const *)c->images, c->n_images, flags, &img));
    if (label && c->label_path) {
        ssl3d_status st = ssl3d_image_read(ctx, c->label_path, 0, &lab);
        if (st == SSL3D_OK) st = ssl3d_image_check_aligned(ctx, img, lab);
        if (st != SSL3D_OK) {
            ssl3d_image_release(img);
            ssl3d_image_release(lab);
            return st;
        }
    }
    *image = img;
    if (label) *label = lab;
    return SSL3D_OK;
}
