/* conv kernel family of the backend dispatch table (see backend.h). PLACEHOLDER:
 * the owner of this family replaces the struct body with its kernel slots. */
#ifndef SSL3D_CONV_KERNELS_H
#define SSL3D_CONV_KERNELS_H
#include "backend.h"

struct ssl3d_conv_kernels {
    int32_t placeholder;
};

extern const struct ssl3d_conv_kernels ssl3d_cpu_conv_kernels;
#endif
