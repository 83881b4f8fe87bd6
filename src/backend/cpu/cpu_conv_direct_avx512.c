/* Direct convolution kernels compiled for avx512 (the Makefile gives this file its own
 * instruction-set flags; nothing here runs unless cpu_isa.c picked this table). */
#define VW 16
#define ISA_NAME "avx512"
#define ISA_KERNELS "AVX-512 direct conv: 6x32 forward/weight-gradient micro-kernels (zmm FMA), W-vectorised first-layer weight gradient"
#define KN(name) name##_avx512
#include "cpu_conv_direct_kern.h"
