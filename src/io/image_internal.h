/* Private definitions of the image readers/writers (src/io). */
#ifndef SSL3D_IMAGE_INTERNAL_H
#define SSL3D_IMAGE_INTERNAL_H
#include <stdint.h>
#include "../core/internal.h"

/* Source geometry of a NIfTI file, kept to write results back onto it. */
typedef struct ssl3d_nifti_geom ssl3d_nifti_geom;

struct ssl3d_image {
    char *path;                    /* first file read ("" for derived images) */
    char format[8];                /* "nifti1", "nifti2", "png", "" */
    char datatype[12];             /* stored datatype name */
    char orient[4];                /* source axis codes ("LPS"), "" for PNG */
    int64_t c, d, h, w;            /* canonical shape */
    float *data;                   /* c*d*h*w values, (C,D,H,W) */
    double spacing[3];             /* canonical (D,H,W) spacing */
    double affine[16];             /* canonical index (w,h,d,1) -> world, row-major */
    int32_t stored_ndim;
    int64_t stored_dims[7];
    double stored_spacing[7];
    int64_t nonfinite;             /* NaN/Inf replaced by 0 */
    double vmin, vmax;
    ssl3d_nifti_geom *geom;        /* NULL for PNG and derived images */
};

/* Canonical reorientation: canonical axis a (0 = W/x, 1 = H/y, 2 = D/z) comes from
 * source voxel axis perm[a], reversed when flip[a]. */
struct ssl3d_nifti_geom {
    int32_t perm[3], flip[3];
    int64_t src_dims[3];           /* nx, ny, nz */
    void *hdr;                     /* nifti_image* (header only, no data) */
};

/* Allocate an image with c*d*h*w floats (zeroed) or fail with a message naming `what`. */
ssl3d_status ssl3d_image_alloc(ssl3d_ctx *ctx, const char *what, int64_t c, int64_t d, int64_t h,
                               int64_t w, ssl3d_image **out);
/* Recompute vmin/vmax; count NaN/Inf, replace them by 0 when `to_zero`, else fail
 * naming `path` and the count. */
ssl3d_status ssl3d_image_finish_values(ssl3d_ctx *ctx, ssl3d_image *img, const char *fn,
                                       uint32_t flags);
void ssl3d_nifti_geom_free(ssl3d_nifti_geom *g);
ssl3d_nifti_geom *ssl3d_nifti_geom_copy(const ssl3d_nifti_geom *g);

/* Format readers: fill a fresh image (path, format, data, geometry). `fn` names the
 * public function for messages. */
ssl3d_status ssl3d_io_nifti_read(ssl3d_ctx *ctx, const char *fn, const char *path, uint32_t flags,
                              ssl3d_image **out);
ssl3d_status ssl3d_io_png_read(ssl3d_ctx *ctx, const char *fn, const char *path, ssl3d_image **out);

/* Whole-file read with a size cap; SSL3D_ERR_IO / SSL3D_ERR_FORMAT naming the file. */
ssl3d_status ssl3d_io_read_file(ssl3d_ctx *ctx, const char *fn, const char *path, size_t max_bytes,
                                unsigned char **buf, size_t *len);
/* Checks a path names a readable regular file: SSL3D_ERR_IO naming it otherwise. */
ssl3d_status ssl3d_io_check_readable(ssl3d_ctx *ctx, const char *fn, const char *path);
/* Whether `s` ends with `suffix` (ASCII case-insensitive). */
int ssl3d_io_ends_with(const char *s, const char *suffix);
/* Temporary sibling name for atomic writes: "<path>.tmp.XXXXXX"; created with mkstemp.
 * Returns the fd (>= 0) and writes the name into `tmp` (cap bytes). */
int ssl3d_io_mktemp(const char *path, char *tmp, size_t cap);

#endif
