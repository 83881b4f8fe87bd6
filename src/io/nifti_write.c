/* NIfTI writer: a canonical-order tensor written back onto the geometry of the image it
 * came from (reorientation undone, qform/sform/pixdim copied), so masks and predictions
 * overlay the source file in any viewer. nifti_clib builds the header; we write the file
 * ourselves (temporary file + rename) so that every write error is caught. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <nifti2_io.h>
#include "nifti_internal.h"

static ssl3d_status check_value(ssl3d_ctx *ctx, const char *fn, const char *path, double v, int dt) {
    if (dt == SSL3D_NIFTI_FLOAT32) return SSL3D_OK;
    double lo = dt == SSL3D_NIFTI_UINT8 ? 0.0 : -32768.0, hi = dt == SSL3D_NIFTI_UINT8 ? 255.0 : 32767.0;
    if (v != floor(v) || v < lo || v > hi)
        return ssl3d_set_error(ctx, SSL3D_ERR_INVALID_ARG, "%s: %s: value %g cannot be stored as %s (integers %g..%g)",
                               fn, path, v, dt == SSL3D_NIFTI_UINT8 ? "uint8" : "int16", lo, hi);
    return SSL3D_OK;
}

static ssl3d_status write_all(ssl3d_ctx *ctx, const char *fn, const char *path, int gz, const void *hdr,
                              size_t hdr_len, const void *data, size_t data_len) {
    char tmp[4096];
    int fd = ssl3d_io_mktemp(path, tmp, sizeof tmp);
    if (fd < 0) return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: cannot create a file there (%s)", fn, path,
                                       strerror(errno));
    static const unsigned char ext[4] = { 0, 0, 0, 0 };   /* "no extensions" flag bytes */
    int ok = 1;
    if (gz) {
        gzFile g = gzdopen(fd, "wb6");
        if (!g) { close(fd); ok = 0; }
        else {
            const unsigned char *p = data;
            size_t left = data_len;
            ok = gzwrite(g, hdr, (unsigned)hdr_len) == (int)hdr_len && gzwrite(g, ext, 4) == 4;
            while (ok && left) {
                unsigned chunk = left > (1u << 30) ? (1u << 30) : (unsigned)left;
                ok = gzwrite(g, p, chunk) == (int)chunk;
                p += chunk;
                left -= chunk;
            }
            ok = (gzclose(g) == Z_OK) && ok;
        }
    } else {
        FILE *f = fdopen(fd, "wb");
        if (!f) { close(fd); ok = 0; }
        else {
            ok = fwrite(hdr, 1, hdr_len, f) == hdr_len && fwrite(ext, 1, 4, f) == 4 &&
                 fwrite(data, 1, data_len, f) == data_len;
            ok = (fclose(f) == 0) && ok;
        }
    }
    if (ok && rename(tmp, path) != 0) ok = 0;
    if (!ok) {
        unlink(tmp);
        return ssl3d_set_error(ctx, SSL3D_ERR_IO, "%s: %s: write failed (%s)", fn, path, strerror(errno));
    }
    return SSL3D_OK;
}

ssl3d_status ssl3d_nifti_write(ssl3d_ctx *ctx, const char *path, const ssl3d_tensor *t, const ssl3d_image *ref,
                               int32_t datatype) {
    static const char *fn = "ssl3d_nifti_write";
    SSL3D_CHECK_CTX(ctx);
    SSL3D_CHECK_ARG(ctx, path && t && ref, "%s: %s is NULL", fn, !path ? "path" : !t ? "t" : "ref");
    SSL3D_CHECK_ARG(ctx, t->ctx == ctx, "%s: t belongs to another context", fn);
    SSL3D_CHECK_ARG(ctx, datatype == SSL3D_NIFTI_UINT8 || datatype == SSL3D_NIFTI_INT16 ||
                         datatype == SSL3D_NIFTI_FLOAT32,
                    "%s: datatype must be SSL3D_NIFTI_UINT8, INT16 or FLOAT32, got %d", fn, (int)datatype);
    int gz = ssl3d_io_ends_with(path, ".nii.gz");
    SSL3D_CHECK_ARG(ctx, gz || ssl3d_io_ends_with(path, ".nii"), "%s: %s: the name must end with .nii or .nii.gz",
                    fn, path);
    SSL3D_CHECK_ARG(ctx, ref->geom && ref->geom->hdr,
                    "%s: ref (%s) has no NIfTI geometry (a PNG or a resized/cropped image)", fn, ssl3d_image_path(ref));
    char sbuf[96];
    int64_t c;
    const int64_t *sp;
    if (t->ndim == 3) { c = 1; sp = t->shape; }
    else if (t->ndim == 4) { c = t->shape[0]; sp = t->shape + 1; }
    else if (t->ndim == 5 && t->shape[0] == 1) { c = t->shape[1]; sp = t->shape + 2; }
    else
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: t must be (D,H,W), (C,D,H,W) or (1,C,D,H,W), got %s", fn,
                               ssl3d_shape_str(t, sbuf, sizeof sbuf));
    if (sp[0] != ref->d || sp[1] != ref->h || sp[2] != ref->w)
        return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: t %s does not match ref %s (D,H,W) = (%lld,%lld,%lld)", fn,
                               ssl3d_shape_str(t, sbuf, sizeof sbuf), ssl3d_image_path(ref), (long long)ref->d,
                               (long long)ref->h, (long long)ref->w);
    if (c > 32767) return ssl3d_set_error(ctx, SSL3D_ERR_SHAPE, "%s: too many channels (%lld)", fn, (long long)c);

    const ssl3d_nifti_geom *g = ref->geom;
    int64_t nx = g->src_dims[0], ny = g->src_dims[1], nz = g->src_dims[2], vol = nx * ny * nz;
    int64_t numel = t->numel;
    int nbyper = datatype == SSL3D_NIFTI_UINT8 ? 1 : datatype == SSL3D_NIFTI_INT16 ? 2 : 4;
    void *vals = malloc((size_t)numel * 4);
    unsigned char *out = malloc((size_t)numel * (size_t)nbyper);
    int64_t *off[3] = { NULL, NULL, NULL };
    nifti_image *nim = NULL;
    ssl3d_status st = SSL3D_OK;
    if (!vals || !out) { st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); goto done; }
    st = ssl3d_tensor_read(ctx, t, vals, numel * 4);
    if (st != SSL3D_OK) goto done;
    int64_t cdim[3] = { ref->w, ref->h, ref->d }, stride[3] = { 1, ref->w, ref->w * ref->h };
    for (int a = 0; a < 3; a++) {
        int s = g->perm[a];
        int64_t n = g->src_dims[s];
        if (n != cdim[a]) { st = ssl3d_set_error(ctx, SSL3D_ERR_STATE, "%s: ref geometry is inconsistent", fn); goto done; }
        off[s] = malloc((size_t)n * sizeof(int64_t));
        if (!off[s]) { st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); goto done; }
        for (int64_t x = 0; x < n; x++) off[s][x] = (g->flip[a] ? n - 1 - x : x) * stride[a];
    }
    int is_int = t->dtype == SSL3D_I32;
    int64_t idx = 0;
    for (int64_t ch = 0; ch < c && st == SSL3D_OK; ch++)
        for (int64_t k = 0; k < nz && st == SSL3D_OK; k++)
            for (int64_t j = 0; j < ny && st == SSL3D_OK; j++)
                for (int64_t i = 0; i < nx; i++, idx++) {
                    int64_t src = ch * vol + off[0][i] + off[1][j] + off[2][k];
                    double v = is_int ? (double)((const int32_t *)vals)[src] : (double)((const float *)vals)[src];
                    st = check_value(ctx, fn, path, v, datatype);
                    if (st != SSL3D_OK) break;
                    if (datatype == SSL3D_NIFTI_UINT8) out[idx] = (uint8_t)v;
                    else if (datatype == SSL3D_NIFTI_INT16) { int16_t s16 = (int16_t)v; memcpy(out + 2 * idx, &s16, 2); }
                    else { float f = (float)v; memcpy(out + 4 * idx, &f, 4); }
                }
    if (st != SSL3D_OK) goto done;

    nim = nifti_copy_nim_info((const nifti_image *)g->hdr);
    if (!nim) { st = ssl3d_set_error(ctx, SSL3D_ERR_NOMEM, "%s: out of memory", fn); goto done; }
    nifti_free_extensions(nim);
    for (int i = 0; i < 8; i++) nim->dim[i] = 1;
    nim->dim[0] = c > 1 ? 4 : 3;
    nim->dim[1] = nx; nim->dim[2] = ny; nim->dim[3] = nz; nim->dim[4] = c;
    if (c > 1 && !(nim->pixdim[4] > 0)) nim->pixdim[4] = 1.0;
    nim->datatype = datatype;
    nifti_datatype_sizes(datatype, &nim->nbyper, &nim->swapsize);
    nim->scl_slope = 1.0;
    nim->scl_inter = 0.0;
    nim->cal_min = nim->cal_max = 0.0;
    nim->intent_code = 0;
    nifti_update_dims_from_array(nim);
    int v2 = nx > 32767 || ny > 32767 || nz > 32767;
    if (v2) {
        nifti_2_header h2;
        if (nifti_convert_nim2n2hdr(nim, &h2) != 0) {
            st = ssl3d_set_error(ctx, SSL3D_ERR_STATE, "%s: %s: cannot build a NIfTI-2 header", fn, path);
            goto done;
        }
        memcpy(h2.magic, "n+2\0\r\n\032\n", 8);
        h2.vox_offset = 544;
        st = write_all(ctx, fn, path, gz, &h2, sizeof h2, out, (size_t)numel * (size_t)nbyper);
    } else {
        nifti_1_header h1;
        if (nifti_convert_nim2n1hdr(nim, &h1) != 0) {
            st = ssl3d_set_error(ctx, SSL3D_ERR_STATE, "%s: %s: cannot build a NIfTI-1 header", fn, path);
            goto done;
        }
        memcpy(h1.magic, "n+1\0", 4);
        h1.vox_offset = 352.0f;
        st = write_all(ctx, fn, path, gz, &h1, sizeof h1, out, (size_t)numel * (size_t)nbyper);
    }
done:
    if (nim) nifti_image_free(nim);
    for (int a = 0; a < 3; a++) free(off[a]);
    free(vals);
    free(out);
    return st;
}
