/* libFuzzer target: the manifest parsers (MSD dataset.json when the input starts with '{',
 * else CSV) on arbitrary bytes, without the file-existence check. See docs/data.md. */
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include "ssl3d.h"

static ssl3d_ctx *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ctx && ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) return 0;
    char path[64];
    int json = size >= 1 && data[0] == '{';
    snprintf(path, sizeof path, "/tmp/fuzz_manifest_%d.%s", (int)getpid(), json ? "json" : "csv");
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite(data, 1, size, f);
    fclose(f);
    ssl3d_manifest *m = NULL;
    if (ssl3d_manifest_load(ctx, path, SSL3D_MANIFEST_SKIP_FILE_CHECK, &m) == SSL3D_OK) {
        size_t total = 0;
        for (int64_t i = 0; i < ssl3d_manifest_count(m); i++) {
            for (int32_t j = 0; j < ssl3d_manifest_case_num_images(m, i); j++) {
                const char *p = ssl3d_manifest_case_image(m, i, j);
                while (*p) total += (unsigned char)*p++;
            }
            const char *l = ssl3d_manifest_case_label_path(m, i);
            if (l) while (*l) total += (unsigned char)*l++;
            total += (size_t)ssl3d_manifest_case_label(m, i) + (size_t)ssl3d_manifest_case_split(m, i);
        }
        for (int32_t j = 0; j < ssl3d_manifest_num_channels(m); j++) total += *ssl3d_manifest_channel_name(m, j);
        for (int32_t j = 0; j < ssl3d_manifest_num_label_names(m); j++)
            total += (size_t)ssl3d_manifest_label_value(m, j) + *ssl3d_manifest_label_name(m, j);
        ssl3d_manifest_check_files(ctx, m);
        (void)total;
        ssl3d_manifest_release(m);
    }
    unlink(path);
    return 0;
}
