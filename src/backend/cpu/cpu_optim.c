/* PLACEHOLDER: CPU optim kernels. */
#include "../optim_kernels.h"

const struct ssl3d_optim_kernels ssl3d_cpu_optim_kernels = { 0 };
