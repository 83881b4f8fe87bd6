/*
 * Stored safetensors dtypes -> the library's float32 / int32 (host byte order).
 * Widening conversions are exact (F16, BF16, 8/16-bit integers); F64 is rounded to
 * the nearest float; 32/64-bit integers are accepted only when every value fits.
 */
#include <string.h>
#include "safetensors.h"

int ssl3d_st_host_is_le(void) {
    const uint16_t one = 1;
    uint8_t b;
    memcpy(&b, &one, 1);
    return b == 1;
}

int32_t ssl3d_st_target_dtype(int32_t dtype) {
    switch (dtype) {
    case SSL3D_ST_F32: case SSL3D_ST_F16: case SSL3D_ST_BF16: case SSL3D_ST_F64:
        return SSL3D_F32;
    case SSL3D_ST_BOOL: case SSL3D_ST_U8: case SSL3D_ST_I8: case SSL3D_ST_U16: case SSL3D_ST_I16:
    case SSL3D_ST_I32: case SSL3D_ST_U32: case SSL3D_ST_I64: case SSL3D_ST_U64:
        return SSL3D_I32;
    default:
        return -1;
    }
}

/* Little-endian loads that do not care about alignment or host order. */
static uint16_t ld16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t ld32(const uint8_t *p) {
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t ld64(const uint8_t *p) { return (uint64_t)ld32(p) | ((uint64_t)ld32(p + 4) << 32); }

static float f32_of_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* IEEE binary16 -> binary32, exact (subnormals, infinities, NaN payloads kept). */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return f32_of_bits(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (man == 0) return f32_of_bits(sign);
        /* Subnormal: normalise the mantissa. */
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        man &= 0x3ff;
        return f32_of_bits(sign | ((uint32_t)(127 - 15 - e) << 23) | (man << 13));
    }
    return f32_of_bits(sign | ((exp + 127 - 15) << 23) | (man << 13));
}

ssl3d_status ssl3d_st_convert(ssl3d_ctx *ctx, const char *fn, const ssl3d_checkpoint *ck,
                              const ssl3d_st_entry *e, void *dst) {
    char q[96];
    const uint8_t *p = e->data;
    float *f = dst;
    int32_t *o = dst;
    int64_t n = e->numel;
    switch (e->dtype) {
    case SSL3D_ST_F32: for (int64_t i = 0; i < n; i++) f[i] = f32_of_bits(ld32(p + 4 * i)); break;
    case SSL3D_ST_F16: for (int64_t i = 0; i < n; i++) f[i] = f16_to_f32(ld16(p + 2 * i)); break;
    case SSL3D_ST_BF16: for (int64_t i = 0; i < n; i++) f[i] = f32_of_bits((uint32_t)ld16(p + 2 * i) << 16); break;
    case SSL3D_ST_F64:
        for (int64_t i = 0; i < n; i++) {
            uint64_t u = ld64(p + 8 * i);
            double d;
            memcpy(&d, &u, 8);
            f[i] = (float)d;
        }
        break;
    case SSL3D_ST_BOOL: for (int64_t i = 0; i < n; i++) o[i] = p[i] != 0; break;
    case SSL3D_ST_U8: for (int64_t i = 0; i < n; i++) o[i] = p[i]; break;
    case SSL3D_ST_I8: for (int64_t i = 0; i < n; i++) o[i] = (int8_t)p[i]; break;
    case SSL3D_ST_U16: for (int64_t i = 0; i < n; i++) o[i] = ld16(p + 2 * i); break;
    case SSL3D_ST_I16: for (int64_t i = 0; i < n; i++) o[i] = (int16_t)ld16(p + 2 * i); break;
    case SSL3D_ST_I32: for (int64_t i = 0; i < n; i++) o[i] = (int32_t)ld32(p + 4 * i); break;
    case SSL3D_ST_U32: case SSL3D_ST_I64: case SSL3D_ST_U64:
        for (int64_t i = 0; i < n; i++) {
            int ok;
            long long v;
            if (e->dtype == SSL3D_ST_U32) { uint32_t u = ld32(p + 4 * i); ok = u <= INT32_MAX; v = (long long)u; }
            else if (e->dtype == SSL3D_ST_I64) { v = (long long)(int64_t)ld64(p + 8 * i); ok = v >= INT32_MIN && v <= INT32_MAX; }
            else { uint64_t u = ld64(p + 8 * i); ok = u <= INT32_MAX; v = ok ? (long long)u : -1; }
            if (!ok)
                return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED,
                                       "%s: checkpoint %s: tensor '%s': %s element %lld (%s%lld) does not fit in int32",
                                       fn, ck->label, ssl3d_st_quote(e->name, q, sizeof q), ssl3d_st_dtype_name(e->dtype),
                                       (long long)i, v < 0 && e->dtype == SSL3D_ST_U64 ? "> " : "",
                                       v < 0 && e->dtype == SSL3D_ST_U64 ? (long long)INT32_MAX : v);
            o[i] = (int32_t)v;
        }
        break;
    default:
        return ssl3d_set_error(ctx, SSL3D_ERR_UNSUPPORTED,
                               "%s: checkpoint %s: tensor '%s' has dtype %s, which converts to neither float32 nor int32",
                               fn, ck->label, ssl3d_st_quote(e->name, q, sizeof q), ssl3d_st_dtype_name(e->dtype));
    }
    return SSL3D_OK;
}
