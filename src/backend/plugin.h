/*
 * Backends in their own shared objects, loaded at run time (like ONNX Runtime's execution
 * providers): libssl3d.so and every program linked with it keep no dependency on a
 * vendor stack (CUDA), and run unchanged on machines that lack it.
 *
 * A plugin exports exactly one symbol, SSL3D_PLUGIN_ENTRY, a function that returns its
 * dispatch table (backend.h). The library checks the table's ABI version, kind and slots
 * (ssl3d_backend_validate) before using it, and keeps a plugin that passed loaded for the
 * rest of the process (its table is referenced by contexts; unloading buys nothing).
 *
 * Where the CUDA plugin is looked for, in order:
 *   1. $SSL3D_CUDA_PLUGIN when set and non-empty: that file only (an explicit choice that
 *      is wrong is reported, never replaced by another copy);
 *   2. next to the object holding libssl3d (dladdr): DIR/libssl3d-cuda.so.0, and
 *      DIR/../lib/libssl3d-cuda.so.0 for programs linked with libssl3d.a (bin/ next to lib/);
 *   3. the dynamic loader's search path (LD_LIBRARY_PATH, ldconfig): libssl3d-cuda.so.0.
 */
#ifndef SSL3D_PLUGIN_H
#define SSL3D_PLUGIN_H
#include "backend.h"

#define SSL3D_PLUGIN_ENTRY "ssl3d_backend_plugin_entry"
#define SSL3D_CUDA_PLUGIN_FILE "libssl3d-cuda.so.0"
#define SSL3D_CUDA_PLUGIN_ENV "SSL3D_CUDA_PLUGIN"

/* The entry point's type. It runs no device code: it only returns the static table. */
typedef const ssl3d_backend *(*ssl3d_plugin_entry_fn)(void);

/* The CUDA plugin's table, loading the plugin on the first successful call (thread-safe;
 * a failed attempt is not remembered, so a fixed environment is seen by the next call).
 * On failure: SSL3D_ERR_BACKEND_UNAVAILABLE and one line in msg that starts with
 * "plugin not found:", "plugin cannot be loaded:", "CUDA libraries not loadable:",
 * "plugin ABI mismatch:" or "plugin invalid:". */
ssl3d_status ssl3d_plugin_cuda(const ssl3d_backend **out, char *msg, size_t cap);

#endif
