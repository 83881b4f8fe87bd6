/* Direct convolution kernels compiled for avx512 (the Makefile gives this file its own
 * instruction-set flags; nothing here runs unless cpu_isa.c picked this table). */
#define VW 16
#define MR 12
#define NG 12
#define ISA_NAME "avx512"
#define ISA_KERNELS "direct conv: 12x32 zmm FMA micro-kernels (<= 16 channels: 16x16 zmm)"
#define ISA_NARROW &cpu_conv_isa_narrow_avx512
#define KN(name) name##_avx512
#include <immintrin.h>
#include <stdint.h>
/* Streaming stores and vector-register asm operands need the ISA's flags (the Makefile's
 * per-file ISA_FLAGS); a build that compiles this file without them (the clang fuzz
 * build) falls back to plain stores and no register pinning (cpu_conv_direct_kern.h). */
#if defined(__AVX512F__)
#define KN_STREAM(p, v) \
    do { if ((uintptr_t)(p) & 63) KN(vstore)(p, v); else _mm512_stream_ps(p, (__m512)(v)); } while (0)
#define KN_STREAM_FENCE() _mm_sfence()
#define KN_IN_REG(v) __asm__("" : "+v"(v))
#endif
#include "cpu_conv_direct_kern.h"
