/* libFuzzer target: the PNG reader (and resize/crop of what it reads) on arbitrary bytes.
 * See docs/data.md, "Fuzzing the readers". */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "ssl3d.h"

static ssl3d_ctx *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ctx && ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) return 0;
    char path[64];
    snprintf(path, sizeof path, "/tmp/fuzz_png_%d.png", (int)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    ssl3d_image *img = NULL;
    if (ssl3d_image_read(ctx, path, 0, &img) == SSL3D_OK) {
        int64_t d[4];
        ssl3d_image_dims(ctx, img, d);
        if (d[2] * d[3] <= 4096) {
            ssl3d_image *r = NULL, *c = NULL;
            if (ssl3d_image_resize(ctx, img, 1 + d[2] / 3, 2 * d[3], &r) == SSL3D_OK &&
                ssl3d_image_center_crop(ctx, r, 1, d[3], &c) == SSL3D_OK)
                ssl3d_image_release(c);
            ssl3d_image_release(r);
        }
        ssl3d_image_release(img);
    }
    unlink(path);
    return 0;
}
