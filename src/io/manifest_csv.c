/* CSV manifest with a header naming the columns file, label and split (any order, extra
 * columns ignored). Minimal RFC 4180: CRLF or LF line ends, double-quoted fields with ""
 * escapes, no line breaks inside quotes. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "manifest_internal.h"

#define CSV_MAX_FIELDS 64

/* Split `line` (mutable, NUL-terminated) in place into fields. Returns the count, or -1
 * for a bad quote, -2 for too many fields. */
static int split_fields(char *line, char **fields) {
    int n = 0;
    char *r = line, *w = line;
    for (;;) {
        if (n == CSV_MAX_FIELDS) return -2;
        while (*r == ' ' || *r == '\t') r++;
        fields[n++] = w;
        if (*r == '"') {
            r++;
            for (;;) {
                if (!*r) return -1;                        /* unterminated quote */
                if (*r == '"') {
                    if (r[1] == '"') { *w++ = '"'; r += 2; continue; }
                    r++;
                    break;
                }
                *w++ = *r++;
            }
            while (*r == ' ' || *r == '\t') r++;
            if (*r && *r != ',') return -1;                /* text after the closing quote */
        } else {
            char *start = w;
            while (*r && *r != ',') {
                if (*r == '"') return -1;                  /* quote inside an unquoted field */
                *w++ = *r++;
            }
            while (w > start && (w[-1] == ' ' || w[-1] == '\t')) w--;
        }
        int more = *r == ',';
        *w++ = '\0';
        if (!more) break;
        r++;
    }
    return n;
}

static int parse_split(const char *s, int32_t *split) {
    if (!strcasecmp(s, "train") || !strcasecmp(s, "training")) *split = SSL3D_SPLIT_TRAIN;
    else if (!strcasecmp(s, "val") || !strcasecmp(s, "valid") || !strcasecmp(s, "validation")) *split = SSL3D_SPLIT_VAL;
    else if (!strcasecmp(s, "test")) *split = SSL3D_SPLIT_TEST;
    else return 0;
    return 1;
}

ssl3d_status ssl3d_manifest_parse_csv(ssl3d_ctx *ctx, const char *fn, ssl3d_manifest *m, const char *text,
                                      size_t len) {
    const char *mp = m->path;
    if (len >= 3 && (unsigned char)text[0] == 0xEF && (unsigned char)text[1] == 0xBB && (unsigned char)text[2] == 0xBF) {
        text += 3;
        len -= 3;
    }
    char *buf = malloc(len + 1);
    if (!buf) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    ssl3d_status st = SSL3D_OK;
    int col_file = -1, col_label = -1, col_split = -1, ncols = 0, line_no = 0;
    const char *p = text, *end = text + len;
    char *fields[CSV_MAX_FIELDS];
    while (p < end && st == SSL3D_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        memcpy(buf, p, n);
        buf[n] = '\0';
        p = nl ? nl + 1 : end;
        line_no++;
        if (n && buf[n - 1] == '\r') buf[--n] = '\0';
        int blank = 1;
        for (size_t i = 0; i < n; i++) blank &= isspace((unsigned char)buf[i]) != 0;
        if (blank) continue;
        int nf = split_fields(buf, fields);
        if (nf < 0) {
            st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: line %d: %s", fn, mp, line_no,
                                 nf == -1 ? "bad double quotes" : "too many fields");
            break;
        }
        if (ncols == 0) {                                   /* the header */
            for (int i = 0; i < nf; i++) {
                if (!strcasecmp(fields[i], "file")) col_file = i;
                else if (!strcasecmp(fields[i], "label")) col_label = i;
                else if (!strcasecmp(fields[i], "split")) col_split = i;
            }
            if (col_file < 0 || col_label < 0 || col_split < 0) {
                st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                                     "%s: %s: line %d: the header must name the columns file,label,split", fn, mp,
                                     line_no);
                break;
            }
            ncols = nf;
            continue;
        }
        if (nf != ncols) {
            st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: line %d: expected %d fields, got %d", fn, mp, line_no,
                                 ncols, nf);
            break;
        }
        const char *file = fields[col_file], *lab = fields[col_label], *spl = fields[col_split];
        if (!file[0]) {
            st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: line %d: empty file name", fn, mp, line_no);
            break;
        }
        int32_t label = -1, split = 0;
        if (lab[0]) {
            char *e;
            errno = 0;
            long v = strtol(lab, &e, 10);
            if (*e || errno || v < 0 || v > 1000000) {
                st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                                     "%s: %s: line %d: label '%.40s' is not an integer in 0..1000000", fn, mp, line_no,
                                     lab);
                break;
            }
            label = (int32_t)v;
        }
        if (!parse_split(spl, &split)) {
            st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: line %d: split '%.40s' is not train, val or test", fn,
                                 mp, line_no, spl);
            break;
        }
        ssl3d_mcase *c = ssl3d_manifest_add_case(m);
        char where[32];
        snprintf(where, sizeof where, "line %d", line_no);
        if (c) {
            c->label = label;
            c->split = split;
            c->where = strdup(where);
            c->images = calloc(1, sizeof *c->images);
            if (c->images) {
                c->images[0] = ssl3d_manifest_resolve(m, file);
                c->n_images = c->images[0] ? 1 : 0;
            }
        }
        if (!c || !c->where || !c->images || !c->n_images) st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
    }
    free(buf);
    if (st == SSL3D_OK && ncols == 0)
        st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: empty CSV (no header file,label,split)", fn, mp);
    return st;
}
