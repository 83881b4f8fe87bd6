/* CPU backend memory (see cpu_memory.c). */
#ifndef SSL3D_CPU_MEMORY_H
#define SSL3D_CPU_MEMORY_H
#include <stddef.h>
#include "ssl3d.h"
/* Fails (SSL3D_ERR_BACKEND_UNAVAILABLE, reason in msg) when SSL3D_CPU_ISA names an
 * instruction set this CPU lacks; on success msg names the kernels chosen. */
ssl3d_status cpu_state_init(void **state, int32_t device, char *msg, size_t cap);
void cpu_state_shutdown(void *state);
void *cpu_alloc_uninit(void *state, size_t bytes);
void *cpu_alloc_zeroed(void *state, size_t bytes);
void cpu_free(void *state, void *p);
/* The context's scratch arena (64-byte aligned, at least `bytes`), or NULL when it is lent
 * out or cannot grow (then use malloc); give it (or a malloc'd fallback) back with
 * cpu_scratch_give. */
void *cpu_scratch_take(void *state, size_t bytes);
void cpu_scratch_give(void *state, void *p);
/* The kernel instruction-set table chosen when the state was created (cpu_isa.h). */
struct cpu_conv_isa;
const struct cpu_conv_isa *cpu_state_isa(const void *state);
#endif
