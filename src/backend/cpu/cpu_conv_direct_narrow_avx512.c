/* Direct convolution kernels compiled for avx512, for layers with at most 16 output
 * channels (the U-Net's first level: 16 filters at the full resolution, the largest share
 * of a 3D step): one zmm per position instead of the wide table's two, so no block is half
 * padding, and 16 positions per forward tile (16 of 32 registers; 24 and 28 measured the
 * same). W1b (16 -> 16 channels, 48x64x48) went from 152 to 103 CPU-ms per step against
 * the AVX2 6x16 kernels that ran these layers before. */
#define VW 16
#define NV 1
#define MR 16
#define NG 16
#define ISA_NAME "avx512"
#define ISA_KERNELS "direct conv: 16x16 zmm FMA micro-kernels"
#define ISA_NARROW NULL
#define KN(name) name##_narrow_avx512
#include "cpu_conv_direct_kern.h"
