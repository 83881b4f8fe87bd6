/* PLACEHOLDER: CPU loss kernels. */
#include "../loss_kernels.h"

const struct ssl3d_loss_kernels ssl3d_cpu_loss_kernels = { 0 };
