/*
 * libFuzzer target for the safetensors reader (see docs/fuzzing.md for the command).
 *
 * Every input goes through ssl3d_checkpoint_load_memory. When it is accepted, every
 * tensor and metadata entry is read back, and the checkpoint is serialised again (the
 * header writer + data, as ssl3d_checkpoint_save writes them) and re-parsed: the second
 * parse must succeed and give the same header bytes (writer/reader agree, and the
 * writer is idempotent). ASan catches out-of-bounds reads, leaks and crashes.
 *
 * Inputs that start with '{' are taken as "JSON header, NUL byte, data buffer" and get
 * a correct 8-byte length put in front, so that mutations of the JSON are not all
 * stopped by the length check; each such input is also tried raw.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "ssl3d.h"
#include "../../src/io/safetensors.h"

static ssl3d_ctx *fuzz_ctx(void) {
    static ssl3d_ctx *ctx;
    if (!ctx && ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) == SSL3D_OK) ssl3d_ctx_set_threads(ctx, 1);
    return ctx;
}

/* The bytes ssl3d_checkpoint_save would write for ck (malloc'd), or NULL. */
static uint8_t *serialise(ssl3d_ctx *ctx, const ssl3d_checkpoint *ck, size_t *len, size_t *hlen_out) {
    char *hdr = NULL;
    size_t hlen = 0, total;
    if (ssl3d_st_header(ctx, ck, &hdr, &hlen) != SSL3D_OK) return NULL;
    total = 8 + hlen;
    for (int64_t i = 0; i < ck->n_t; i++) total += (size_t)ck->t[i].nbytes;
    uint8_t *out = malloc(total ? total : 1);
    if (!out) { free(hdr); return NULL; }
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(out + 8, hdr, hlen);
    size_t o = 8 + hlen;
    for (int64_t i = 0; i < ck->n_t; i++) {
        if (ck->t[i].nbytes) memcpy(out + o, ck->t[i].data, (size_t)ck->t[i].nbytes);
        o += (size_t)ck->t[i].nbytes;
    }
    free(hdr);
    *len = total;
    *hlen_out = hlen;
    return out;
}

static int one_input(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 0 && data[0] == '{') {
        const uint8_t *nul = memchr(data, 0, size);
        size_t hlen = nul ? (size_t)(nul - data) : size, rest = nul ? size - hlen - 1 : 0;
        uint8_t *file = malloc(8 + hlen + rest);
        if (file) {
            for (int i = 0; i < 8; i++) file[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
            memcpy(file + 8, data, hlen);
            if (rest) memcpy(file + 8 + hlen, nul + 1, rest);
            one_input(file, 8 + hlen + rest);
            free(file);
        }
    }
    return one_input(data, size);
}

static int one_input(const uint8_t *data, size_t size) {
    ssl3d_ctx *ctx = fuzz_ctx();
    if (!ctx) return 0;
    ssl3d_checkpoint *ck = NULL;
    if (ssl3d_checkpoint_load_memory(ctx, data, (int64_t)size, &ck) != SSL3D_OK) {
        if (!ssl3d_ctx_last_error(ctx)[0]) __builtin_trap();   /* every failure explains itself */
        return 0;
    }
    /* Read everything back. */
    for (int64_t i = 0; i < ssl3d_checkpoint_tensor_count(ck); i++) {
        const char *name = ssl3d_checkpoint_tensor_name(ck, i);
        ssl3d_tensor *t = NULL;
        int32_t dt, nd;
        int64_t shape[SSL3D_MAX_DIMS];
        ssl3d_status a = ssl3d_checkpoint_tensor_info(ctx, ck, name, &dt, &nd, shape, SSL3D_MAX_DIMS);
        ssl3d_status b = ssl3d_checkpoint_get_tensor(ctx, ck, name, &t);
        /* info and get agree, except that get also converts (I64 out of range). */
        if (b == SSL3D_OK && (a != SSL3D_OK || ssl3d_tensor_dtype(t) != dt || ssl3d_tensor_ndim(t) != nd))
            __builtin_trap();
        if (b == SSL3D_OK && ssl3d_checkpoint_copy_into(ctx, ck, name, t) != SSL3D_OK) __builtin_trap();
        ssl3d_tensor_release(t);
    }
    for (int64_t i = 0; i < ssl3d_checkpoint_meta_count(ck); i++) {
        const char *v = NULL;
        if (ssl3d_checkpoint_get_meta(ctx, ck, ssl3d_checkpoint_meta_key(ck, i), &v) != SSL3D_OK || !v)
            __builtin_trap();
    }
    /* Writer and reader agree. */
    size_t len = 0, hlen = 0;
    uint8_t *again = serialise(ctx, ck, &len, &hlen);
    if (again) {
        ssl3d_checkpoint *ck2 = NULL;
        if (ssl3d_checkpoint_load_memory(ctx, again, (int64_t)len, &ck2) != SSL3D_OK) __builtin_trap();
        if (ssl3d_checkpoint_tensor_count(ck2) != ssl3d_checkpoint_tensor_count(ck) ||
            ssl3d_checkpoint_meta_count(ck2) != ssl3d_checkpoint_meta_count(ck))
            __builtin_trap();
        size_t len2 = 0, hlen2 = 0;
        uint8_t *third = serialise(ctx, ck2, &len2, &hlen2);
        if (!third || len2 != len || memcmp(third, again, len) != 0) __builtin_trap();
        free(third);
        ssl3d_checkpoint_release(ck2);
        free(again);
    }
    ssl3d_checkpoint_release(ck);
    return 0;
}
