/* CPU backend memory (see cpu_memory.c). */
#ifndef SSL3D_CPU_MEMORY_H
#define SSL3D_CPU_MEMORY_H
#include <stddef.h>
#include "ssl3d.h"
ssl3d_status cpu_state_init(void **state, char *msg, size_t cap);
void cpu_state_shutdown(void *state);
void *cpu_alloc_uninit(void *state, size_t bytes);
void *cpu_alloc_zeroed(void *state, size_t bytes);
void cpu_free(void *state, void *p);
#endif
