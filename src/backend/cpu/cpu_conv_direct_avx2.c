/* Direct convolution kernels compiled for avx2 (the Makefile gives this file its own
 * instruction-set flags; nothing here runs unless cpu_isa.c picked this table). */
#define VW 8
#define ISA_NAME "avx2"
#define ISA_KERNELS "AVX2+FMA direct conv: 6x16 forward/weight-gradient micro-kernels (ymm FMA), W-vectorised first-layer weight gradient"
#define KN(name) name##_avx2
#include "cpu_conv_direct_kern.h"
