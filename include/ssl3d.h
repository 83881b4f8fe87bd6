/*
 * libssl3d — self-supervised 3D/2D CNN pretraining and fine-tuning for medical images.
 *
 * One umbrella header. Everything here is FFI-plain: opaque handles, fixed-width
 * integers, no structs passed by value. Every function returns an ssl3d_status
 * (or a plain value for trivial queries); out-parameters are written only on
 * SSL3D_OK. Release functions accept NULL. On error the context keeps a message
 * (ssl3d_ctx_last_error) that names the culprit; the library never prints and
 * never exits.
 */
#ifndef SSL3D_H
#define SSL3D_H

#define SSL3D_VERSION_MAJOR 0
#define SSL3D_VERSION_MINOR 1
#define SSL3D_VERSION_PATCH 0
#define SSL3D_VERSION_STRING "0.1.0"
/* (major << 16) | (minor << 8) | patch — compare with ssl3d_version_number(). */
#define SSL3D_VERSION_NUMBER ((SSL3D_VERSION_MAJOR << 16) | (SSL3D_VERSION_MINOR << 8) | SSL3D_VERSION_PATCH)

#include "ssl3d/core.h"
#include "ssl3d/conv.h"
#include "ssl3d/layers.h"
#include "ssl3d/loss.h"
#include "ssl3d/optim.h"
#include "ssl3d/checkpoint.h"
#include "ssl3d/nn.h"
#include "ssl3d/io.h"
#include "ssl3d/data.h"
#include "ssl3d/tasks.h"
#include "ssl3d/pretrain.h"
#include "ssl3d/metrics.h"
#include "ssl3d/stats.h"
#include "ssl3d/loader.h"
#include "ssl3d/finetune.h"
#include "ssl3d/comm.h"
#include "ssl3d/pretrain_run.h"
#include "ssl3d/pretrain_inputs.h"

#endif /* SSL3D_H */
