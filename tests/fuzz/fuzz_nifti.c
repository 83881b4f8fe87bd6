/* libFuzzer target: the NIfTI reader on arbitrary bytes (as .nii, or .nii.gz when the
 * input starts with the gzip magic). See docs/data.md, "Fuzzing the readers". */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "ssl3d.h"

static ssl3d_ctx *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ctx && ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) return 0;
    char path[64];
    int gz = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
    snprintf(path, sizeof path, "/tmp/fuzz_nifti_%d.nii%s", (int)getpid(), gz ? ".gz" : "");
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    ssl3d_image *img = NULL;
    uint32_t flags = size % 2 ? SSL3D_IMAGE_NONFINITE_TO_ZERO : 0;
    if (ssl3d_image_read(ctx, path, flags, &img) == SSL3D_OK) {
        ssl3d_tensor *t = NULL;
        int64_t d[4];
        ssl3d_image_dims(ctx, img, d);
        if (d[0] * d[1] * d[2] * d[3] <= (1 << 20)) {
            if (ssl3d_image_to_tensor(ctx, img, 3, &t) == SSL3D_OK) {
                /* write it back onto its own geometry */
                char out[80];
                snprintf(out, sizeof out, "/tmp/fuzz_nifti_%d_out.nii", (int)getpid());
                ssl3d_nifti_write(ctx, out, t, img, SSL3D_NIFTI_FLOAT32);
                unlink(out);
            }
            ssl3d_tensor_release(t);
            t = NULL;
            if (ssl3d_image_to_label_tensor(ctx, img, 3, &t) == SSL3D_OK) ssl3d_tensor_release(t);
        }
        ssl3d_image_release(img);
    }
    unlink(path);
    return 0;
}
