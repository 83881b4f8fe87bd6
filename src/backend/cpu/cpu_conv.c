/* PLACEHOLDER: CPU conv kernels. */
#include "../conv_kernels.h"

const struct ssl3d_conv_kernels ssl3d_cpu_conv_kernels = { 0 };
