/* loss kernel family of the backend dispatch table (see backend.h). PLACEHOLDER:
 * the owner of this family replaces the struct body with its kernel slots. */
#ifndef SSL3D_LOSS_KERNELS_H
#define SSL3D_LOSS_KERNELS_H
#include "backend.h"

struct ssl3d_loss_kernels {
    int32_t placeholder;
};

extern const struct ssl3d_loss_kernels ssl3d_cpu_loss_kernels;
#endif
