/* Direct convolution kernels compiled for avx512 (the Makefile gives this file its own
 * instruction-set flags; nothing here runs unless cpu_isa.c picked this table). */
#define VW 16
#define MR 12
#define NG 12
#define ISA_NAME "avx512"
#define ISA_KERNELS "direct conv: 12x32 zmm FMA micro-kernels (<= 16 channels: 16x16 zmm)"
#define ISA_NARROW &cpu_conv_isa_narrow_avx512
#define KN(name) name##_avx512
#include "cpu_conv_direct_kern.h"
