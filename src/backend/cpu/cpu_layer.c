/* PLACEHOLDER: CPU layer kernels. */
#include "../layer_kernels.h"

const struct ssl3d_layer_kernels ssl3d_cpu_layer_kernels = { 0 };
