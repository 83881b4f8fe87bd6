/* Direct convolution kernels compiled for generic (the Makefile gives this file its own
 * instruction-set flags; nothing here runs unless cpu_isa.c picked this table). */
#define VW 4
#define MR 6
#define NG 6
#define ISA_NAME "generic"
#define ISA_KERNELS "direct conv: 6x8 portable 4-wide vector micro-kernels"
#define ISA_NARROW NULL
#define KN(name) name##_generic
#include "cpu_conv_direct_kern.h"
