/* Direct convolution kernels compiled for avx2 (the Makefile gives this file its own
 * instruction-set flags; nothing here runs unless cpu_isa.c picked this table). */
#define VW 8
#define MR 6
#define NG 6
#define ISA_NAME "avx2"
#define ISA_KERNELS "direct conv: 6x16 ymm FMA micro-kernels"
#define ISA_NARROW NULL
#define KN(name) name##_avx2
#include "cpu_conv_direct_kern.h"
