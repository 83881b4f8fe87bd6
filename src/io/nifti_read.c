/* NIfTI-1/-2 reader. nifti_clib parses the header (versions, byte order, qform/sform,
 * .hdr/.img pairs); before that we validate the raw header ourselves so that hostile
 * files get a precise message and nifti_clib never sees them, and we read the voxel
 * data ourselves with zlib so that short or corrupt data is an error, never the
 * zero-filled partial image nifti_image_load would give. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include <nifti2_io.h>
#include "nifti_internal.h"

#define NIFTI_HDR1 348
#define NIFTI_HDR2 540
/* Deflate cannot expand better than about 1032:1; a header claiming more data than
 * that is truncated or hostile, and we say so before allocating. */
#define DEFLATE_MAX_RATIO 1100

typedef struct {
    int code;
    const char *name;
    int size;   /* bytes per voxel; 0 = not supported */
} dt_info;

static const dt_info dtypes[] = {
    { DT_UINT8, "uint8", 1 },     { DT_INT8, "int8", 1 },       { DT_INT16, "int16", 2 },
    { DT_UINT16, "uint16", 2 },   { DT_INT32, "int32", 4 },     { DT_UINT32, "uint32", 4 },
    { DT_INT64, "int64", 8 },     { DT_UINT64, "uint64", 8 },   { DT_FLOAT32, "float32", 4 },
    { DT_FLOAT64, "float64", 8 },
    { DT_BINARY, "binary", 0 },   { DT_COMPLEX64, "complex64", 0 }, { DT_RGB24, "RGB24", 0 },
    { DT_FLOAT128, "float128", 0 }, { DT_COMPLEX128, "complex128", 0 },
    { DT_COMPLEX256, "complex256", 0 }, { DT_RGBA32, "RGBA32", 0 },
};

static const dt_info *dt_lookup(int code) {
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (dtypes[i].code == code) return &dtypes[i];
    return NULL;
}

static uint32_t bswap32(uint32_t v) { return __builtin_bswap32(v); }

/* Raw header fields we validate before nifti_clib sees the file. */
typedef struct {
    int version;          /* 1 or 2 */
    int swapped;
    int single_file;      /* magic "n+1"/"n+2" (data in the same file) */
    int64_t dim[8];
    int datatype;
    double vox_offset;
} raw_hdr;

static int16_t rd16(const unsigned char *p, int sw) {
    uint16_t v; memcpy(&v, p, 2);
    if (sw) v = __builtin_bswap16(v);
    return (int16_t)v;
}
static int32_t rd32(const unsigned char *p, int sw) {
    uint32_t v; memcpy(&v, p, 4);
    if (sw) v = bswap32(v);
    return (int32_t)v;
}
static int64_t rd64(const unsigned char *p, int sw) {
    uint64_t v; memcpy(&v, p, 8);
    if (sw) v = __builtin_bswap64(v);
    return (int64_t)v;
}
static float rdf32(const unsigned char *p, int sw) {
    uint32_t v = (uint32_t)rd32(p, sw); float f; memcpy(&f, &v, 4); return f;
}
static double rdf64(const unsigned char *p, int sw) {
    uint64_t v = (uint64_t)rd64(p, sw); double f; memcpy(&f, &v, 8); return f;
}

static ssl3d_status parse_raw_header(ssl3d_ctx *ctx, const char *fn, const char *hpath, raw_hdr *h) {
    gzFile f = gzopen(hpath, "rb");
    if (!f) return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: cannot open (%s)", fn, hpath, strerror(errno));
    unsigned char b[NIFTI_HDR2];
    memset(b, 0, sizeof b);
    int n = gzread(f, b, sizeof b);
    int zerr = Z_OK;
    const char *zmsg = n < (int)sizeof b ? gzerror(f, &zerr) : "";
    char zbuf[128];
    snprintf(zbuf, sizeof zbuf, "%s", zmsg ? zmsg : "");
    gzclose(f);
    if (n < 0 || (n < NIFTI_HDR1 && zerr != Z_OK && zerr != Z_STREAM_END))
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: corrupt or truncated gzip data in the header (zlib: %s)",
                               fn, hpath, zbuf);
    if (n < 4)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: file is too short to be NIfTI (%d bytes)", fn, hpath, n);
    memset(h, 0, sizeof *h);
    int32_t sz = rd32(b, 0);
    if (sz == NIFTI_HDR1 || (int32_t)bswap32((uint32_t)sz) == NIFTI_HDR1) h->version = 1;
    else if (sz == NIFTI_HDR2 || (int32_t)bswap32((uint32_t)sz) == NIFTI_HDR2) h->version = 2;
    else
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                               "%s: %s: not a NIfTI file: sizeof_hdr is %d (expected 348 for NIfTI-1 or 540 for NIfTI-2)",
                               fn, hpath, (int)sz);
    h->swapped = sz != NIFTI_HDR1 && sz != NIFTI_HDR2;
    int need = h->version == 1 ? NIFTI_HDR1 : NIFTI_HDR2;
    if (n < need)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: truncated header (%d of %d bytes)", fn, hpath, n, need);
    int sw = h->swapped;
    if (h->version == 1) {
        const unsigned char *mg = b + 344;
        if (!(mg[0] == 'n' && (mg[1] == '+' || mg[1] == 'i') && mg[2] == '1' && mg[3] == 0))
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                                   "%s: %s: wrong magic (expected \"n+1\" or \"ni1\"; ANALYZE 7.5 is not supported)",
                                   fn, hpath);
        h->single_file = mg[1] == '+';
        for (int i = 0; i < 8; i++) h->dim[i] = rd16(b + 40 + 2 * i, sw);
        h->datatype = rd16(b + 70, sw);
        h->vox_offset = rdf32(b + 108, sw);
    } else {
        const unsigned char *mg = b + 4;
        if (!(mg[0] == 'n' && (mg[1] == '+' || mg[1] == 'i') && mg[2] == '2' && mg[3] == 0 &&
              !memcmp(mg + 4, "\r\n\032\n", 4)))
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: wrong magic (expected \"n+2\" or \"ni2\")", fn, hpath);
        h->single_file = mg[1] == '+';
        h->datatype = rd16(b + 12, sw);
        for (int i = 0; i < 8; i++) h->dim[i] = rd64(b + 16 + 8 * i, sw);
        h->vox_offset = (double)rd64(b + 168, sw);
        (void)rdf64;
    }
    if (h->dim[0] < 1 || h->dim[0] > 7)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: dim[0] (number of dimensions) is %lld, must be 1..7",
                               fn, hpath, (long long)h->dim[0]);
    for (int i = 1; i <= h->dim[0]; i++)
        if (h->dim[i] < 1)
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: dim[%d] is %lld, must be >= 1", fn, hpath, i,
                                   (long long)h->dim[i]);
    const dt_info *dt = dt_lookup(h->datatype);
    if (!dt)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: unknown datatype code %d", fn, hpath, h->datatype);
    if (!dt->size)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: unsupported datatype %s (code %d)", fn, hpath,
                               dt->name, h->datatype);
    int64_t nvox = 1;
    for (int i = 1; i <= h->dim[0]; i++)
        if (__builtin_mul_overflow(nvox, h->dim[i], &nvox) || nvox > (INT64_C(1) << 40))
            return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: the dimensions' product overflows or exceeds 2^40 voxels (dim[%d] = %lld)",
                                   fn, hpath, i, (long long)h->dim[i]);
    if (!isfinite(h->vox_offset) || h->vox_offset < 0 || h->vox_offset > 1e12 ||
        (h->single_file && h->vox_offset < need))
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: invalid vox_offset %g", fn, hpath, h->vox_offset);
    return SSL3D_OK;
}

static int is_gzip(const char *path) {
    unsigned char m[2] = { 0, 0 };
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(m, 1, 2, f) : 0;
    if (f) fclose(f);
    return n == 2 && m[0] == 0x1f && m[1] == 0x8b;
}

/* Read exactly `bytes` bytes of voxel data at `offset` of `path` (gzip or plain). */
static ssl3d_status read_voxels(ssl3d_ctx *ctx, const char *fn, const char *path, int64_t offset, int64_t bytes,
                                void **out) {
    SSL3D_CHECK(ssl3d_io_check_readable(ctx, fn, path));
    struct stat st;
    if (stat(path, &st) != 0) return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: cannot stat", fn, path);
    int gz = is_gzip(path);
    int64_t fsize = (int64_t)st.st_size;
    if (!gz && fsize - offset < bytes)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                               "%s: %s: data is shorter than the header says (needs %lld bytes from offset %lld, "
                               "the file has %lld)", fn, path, (long long)bytes, (long long)offset,
                               (long long)(fsize > offset ? fsize - offset : 0));
    if (gz && (double)bytes + (double)offset > (double)fsize * DEFLATE_MAX_RATIO + 65536.0)
        return ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                               "%s: %s: data is shorter than the header says (needs %lld bytes; %lld compressed bytes "
                               "cannot hold that)", fn, path, (long long)bytes, (long long)fsize);
    if ((uint64_t)bytes > (uint64_t)SIZE_MAX - 1)
        return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: %s: data too large", fn, path);
    unsigned char *buf = malloc(bytes ? (size_t)bytes : 1);
    if (!buf) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: %s: out of memory for %lld bytes", fn, path,
                                     (long long)bytes);
    gzFile f = gzopen(path, "rb");
    if (!f) {
        free(buf);
        return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: cannot open", fn, path);
    }
    gzbuffer(f, 1 << 17);
    ssl3d_status stt = SSL3D_OK;
    if (gzseek(f, (z_off_t)offset, SEEK_SET) != (z_off_t)offset) {
        int e = 0;
        const char *m = gzerror(f, &e);
        stt = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: cannot reach the data at offset %lld (%s)", fn, path,
                              (long long)offset, e != Z_OK && m ? m : "file too short");
    }
    int64_t got = 0;
    while (stt == SSL3D_OK && got < bytes) {
        int64_t want = bytes - got;
        if (want > (1 << 30)) want = 1 << 30;
        int r = gzread(f, buf + got, (unsigned)want);
        if (r <= 0) break;
        got += r;
    }
    if (stt == SSL3D_OK && got < bytes) {
        int e = 0;
        const char *m = gzerror(f, &e);
        if (e != Z_OK && e != Z_STREAM_END)
            stt = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                                  "%s: %s: corrupt or truncated gzip data (zlib: %s; %lld of %lld data bytes read)", fn,
                                  path, m ? m : "?", (long long)got, (long long)bytes);
        else
            stt = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT,
                                  "%s: %s: data is shorter than the header says (%lld of %lld bytes)", fn, path,
                                  (long long)got, (long long)bytes);
    }
    gzclose(f);
    if (stt != SSL3D_OK) { free(buf); return stt; }
    *out = buf;
    return SSL3D_OK;
}

/* Convert stored voxels to float, scale and reorient in one pass. Stored index
 * ((t*nz + k)*ny + j)*nx + i goes to t*vol + offi[i] + offj[j] + offk[k]. */
#define CONVERT_LOOP(T)                                                                          \
    do {                                                                                         \
        const T *src = (const T *)raw;                                                           \
        int64_t idx = 0;                                                                         \
        for (int64_t t = 0; t < nt; t++)                                                         \
            for (int64_t k = 0; k < nz; k++)                                                     \
                for (int64_t j = 0; j < ny; j++) {                                               \
                    float *row = dst + t * vol + off[2][k] + off[1][j];                         \
                    const int64_t *oi = off[0];                                                  \
                    if (scale)                                                                   \
                        for (int64_t i = 0; i < nx; i++, idx++)                                  \
                            row[oi[i]] = (float)((double)src[idx] * slope + inter);              \
                    else                                                                         \
                        for (int64_t i = 0; i < nx; i++, idx++) row[oi[i]] = (float)src[idx];    \
                }                                                                                \
    } while (0)

static void convert(int datatype, const void *raw, float *dst, int64_t nx, int64_t ny, int64_t nz, int64_t nt,
                    int64_t *const off[3], int scale, double slope, double inter) {
    int64_t vol = nx * ny * nz;
    switch (datatype) {
    case DT_UINT8: CONVERT_LOOP(uint8_t); break;
    case DT_INT8: CONVERT_LOOP(int8_t); break;
    case DT_INT16: CONVERT_LOOP(int16_t); break;
    case DT_UINT16: CONVERT_LOOP(uint16_t); break;
    case DT_INT32: CONVERT_LOOP(int32_t); break;
    case DT_UINT32: CONVERT_LOOP(uint32_t); break;
    case DT_INT64: CONVERT_LOOP(int64_t); break;
    case DT_UINT64: CONVERT_LOOP(uint64_t); break;
    case DT_FLOAT32: CONVERT_LOOP(float); break;
    case DT_FLOAT64: CONVERT_LOOP(double); break;
    default: break;
    }
}

static int matrix_finite(const nifti_dmat44 *m) {
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++)
            if (!isfinite(m->m[r][c])) return 0;
    return 1;
}

void ssl3d_nifti_geom_free(ssl3d_nifti_geom *g) {
    if (!g) return;
    if (g->hdr) nifti_image_free((nifti_image *)g->hdr);
    free(g);
}

ssl3d_nifti_geom *ssl3d_nifti_geom_copy(const ssl3d_nifti_geom *g) {
    if (!g) return NULL;
    ssl3d_nifti_geom *c = malloc(sizeof *c);
    if (!c) return NULL;
    *c = *g;
    c->hdr = g->hdr ? nifti_copy_nim_info((const nifti_image *)g->hdr) : NULL;
    if (g->hdr && !c->hdr) { free(c); return NULL; }
    return c;
}

/* Header file of a NIfTI name: the file itself, or the .hdr of an .img pair. */
static ssl3d_status header_path(ssl3d_ctx *ctx, const char *fn, const char *path, char **out) {
    if (!ssl3d_io_ends_with(path, ".img") && !ssl3d_io_ends_with(path, ".img.gz")) {
        *out = strdup(path);
        if (!*out) return ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn);
        return SSL3D_OK;
    }
    char *h = nifti_findhdrname(path);
    if (!h) return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: no matching .hdr file found", fn, path);
    *out = h;
    return SSL3D_OK;
}

ssl3d_status ssl3d_io_nifti_read(ssl3d_ctx *ctx, const char *fn, const char *path, uint32_t flags, ssl3d_image **out) {
    SSL3D_CHECK(ssl3d_io_check_readable(ctx, fn, path));
    char *hpath = NULL;
    SSL3D_CHECK(header_path(ctx, fn, path, &hpath));
    raw_hdr rh;
    ssl3d_status st = ssl3d_io_check_readable(ctx, fn, hpath);
    if (st == SSL3D_OK) st = parse_raw_header(ctx, fn, hpath, &rh);
    if (st != SSL3D_OK) { free(hpath); return st; }

    nifti_image *nim = nifti_image_read(hpath, 0);
    if (!nim) {
        st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: nifti_clib could not read the header", fn, hpath);
        free(hpath);
        return st;
    }
    free(hpath);
    nifti_free_extensions(nim);
    void *raw = NULL;
    ssl3d_image *img = NULL;
    ssl3d_nifti_geom *geom = NULL;
    int64_t *off[3] = { NULL, NULL, NULL };
    const dt_info *dt = dt_lookup(nim->datatype);
    /* Cross-check nifti_clib's view with the header we validated. */
    int64_t nvox = 1;
    for (int i = 1; i <= rh.dim[0]; i++) nvox *= rh.dim[i];
    if (!dt || !dt->size || nim->datatype != rh.datatype || nim->nvox != nvox || nim->nbyper != dt->size ||
        !nim->iname || nim->iname_offset < 0) {
        st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: inconsistent header (datatype/dims/offset)", fn, path);
        goto done;
    }
    const nifti_dmat44 *m = nim->sform_code > 0 ? &nim->sto_xyz : &nim->qto_xyz;
    if (!matrix_finite(m)) {
        st = ssl3d_set_error(ctx, SSL3D_ERR_FORMAT, "%s: %s: the %s matrix has NaN/Inf entries", fn, path,
                             nim->sform_code > 0 ? "sform" : "qform");
        goto done;
    }
    st = read_voxels(ctx, fn, nim->iname, nim->iname_offset, nvox * dt->size, &raw);
    if (st != SSL3D_OK) goto done;
    if (nim->swapsize > 1 && nim->byteorder != nifti_short_order())
        nifti_swap_Nbytes(nvox, nim->swapsize, raw);

    geom = calloc(1, sizeof *geom);
    if (!geom) { st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); goto done; }
    int64_t nx = rh.dim[0] >= 1 ? rh.dim[1] : 1, ny = rh.dim[0] >= 2 ? rh.dim[2] : 1,
            nz = rh.dim[0] >= 3 ? rh.dim[3] : 1;
    int64_t nt = nvox / (nx * ny * nz);
    geom->src_dims[0] = nx; geom->src_dims[1] = ny; geom->src_dims[2] = nz;
    ssl3d_orient_from_affine(m->m, geom->perm, geom->flip);
    int64_t cdim[3];
    for (int a = 0; a < 3; a++) cdim[a] = geom->src_dims[geom->perm[a]];
    st = ssl3d_image_alloc(ctx, path, nt, cdim[2], cdim[1], cdim[0], &img);
    if (st != SSL3D_OK) goto done;
    int64_t stride[3] = { 1, cdim[0], cdim[0] * cdim[1] };
    for (int a = 0; a < 3; a++) {
        int s = geom->perm[a];
        int64_t n = geom->src_dims[s];
        off[s] = malloc((size_t)n * sizeof(int64_t));
        if (!off[s]) { st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); goto done; }
        for (int64_t x = 0; x < n; x++) off[s][x] = (geom->flip[a] ? n - 1 - x : x) * stride[a];
    }
    int scale = nim->scl_slope != 0.0 && isfinite(nim->scl_slope);
    double inter = isfinite(nim->scl_inter) ? nim->scl_inter : 0.0;
    convert(nim->datatype, raw, img->data, nx, ny, nz, nt, off, scale, nim->scl_slope, inter);

    img->path = strdup(path);
    if (!img->path) { st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); goto done; }
    snprintf(img->format, sizeof img->format, "nifti%d", rh.version);
    snprintf(img->datatype, sizeof img->datatype, "%s", dt->name);
    ssl3d_orient_codes(geom->perm, geom->flip, img->orient);
    for (int a = 0; a < 3; a++) {
        double p = nim->pixdim[geom->perm[a] + 1];
        img->spacing[2 - a] = isfinite(p) && p != 0.0 ? fabs(p) : 1.0;
    }
    ssl3d_orient_canonical_affine(m->m, geom->perm, geom->flip, geom->src_dims, img->affine);
    img->stored_ndim = (int32_t)rh.dim[0];
    for (int i = 0; i < rh.dim[0]; i++) {
        img->stored_dims[i] = rh.dim[i + 1];
        img->stored_spacing[i] = nim->pixdim[i + 1];
    }
    st = ssl3d_image_finish_values(ctx, img, fn, flags);
    if (st != SSL3D_OK) goto done;
    geom->hdr = nim;
    nim = NULL;
    img->geom = geom;
    geom = NULL;
    *out = img;
    img = NULL;
done:
    for (int a = 0; a < 3; a++) free(off[a]);
    free(raw);
    ssl3d_image_release(img);
    ssl3d_nifti_geom_free(geom);
    if (nim) nifti_image_free(nim);
    return st;
}
