/* Direct convolution kernels compiled for generic (the Makefile gives this file its own
 * instruction-set flags; nothing here runs unless cpu_isa.c picked this table). */
#define VW 4
#define ISA_NAME "generic"
#define ISA_KERNELS "portable direct conv (4-wide GCC vectors, no FMA): 6x8 micro-kernels"
#define KN(name) name##_generic
#include "cpu_conv_direct_kern.h"
