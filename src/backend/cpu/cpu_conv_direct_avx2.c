/* Direct convolution kernels compiled for avx2 (the Makefile gives this file its own
 * instruction-set flags; nothing here runs unless cpu_isa.c picked this table). */
#define VW 8
#define MR 6
#define NG 6
#define ISA_NAME "avx2"
#define ISA_KERNELS "direct conv: 6x16 ymm FMA micro-kernels"
#define ISA_NARROW NULL
#define KN(name) name##_avx2
#include <immintrin.h>
#include <stdint.h>
/* Streaming stores and vector-register asm operands need the ISA's flags (the Makefile's
 * per-file ISA_FLAGS); a build that compiles this file without them (the clang fuzz
 * build) falls back to plain stores and no register pinning (cpu_conv_direct_kern.h). */
#if defined(__AVX__)
#define KN_STREAM(p, v) \
    do { if ((uintptr_t)(p) & 31) KN(vstore)(p, v); else _mm256_stream_ps(p, (__m256)(v)); } while (0)
#define KN_STREAM_FENCE() _mm_sfence()
#define KN_IN_REG(v) __asm__("" : "+v"(v))
#endif
#include "cpu_conv_direct_kern.h"
