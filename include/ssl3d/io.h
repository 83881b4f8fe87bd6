/* ssl3d/io.h — PLACEHOLDER, replaced by its owner. Included by <ssl3d.h>. */
#ifndef SSL3D_IO_H
#define SSL3D_IO_H
#include "core.h"
#ifdef __cplusplus
extern "C" {
#endif

#ifdef __cplusplus
}
#endif
#endif
