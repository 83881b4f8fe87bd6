/* Run-time choice of the CPU kernels' instruction set. One build runs on any x86-64
 * machine: the direct convolution kernels are compiled once per ISA (each file with its
 * own -m flags, see the Makefile) and each context picks a table when it is created:
 * the best the CPU supports (cpuid via __builtin_cpu_supports), or the one named by
 * SSL3D_CPU_ISA=generic|avx2|avx512 (an ISA this CPU lacks fails context creation with
 * a message from ssl3d_backend_probe). Nothing else in the library is compiled for a
 * particular CPU. */
#ifndef SSL3D_CPU_ISA_H
#define SSL3D_CPU_ISA_H
#include <stddef.h>
#include "../conv_kernels.h"

typedef struct cpu_conv_isa {
    const char *name;        /* "generic", "avx2", "avx512" */
    const char *kernels;     /* what runs, for `ssl3d info --backends` and `bench` */
    int block;               /* output channels per direct-kernel block */
    /* Tables of narrower kernels for layers whose (transposed) output channels fit one of
     * their blocks: a 32-wide AVX-512 block would be half padding for 16 channels, the
     * 16-wide one-zmm block of cpu_conv_direct_narrow_avx512.c is not (NULL: none). */
    const struct cpu_conv_isa *narrow;
    /* y = (accumulate ? y : 0) + conv(x, w) + b  (b may be NULL) */
    ssl3d_status (*direct_forward)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                   const float *w, const float *b, float *y, int accumulate);
    /* stride 1: dx += conv(dy, w flipped and transposed); gt is the transposed geometry
     * (Cin' = Cout, Cout' = Cin, in/out swapped, pad k-1-pad), w the forward weights */
    ssl3d_status (*direct_backward_input)(const ssl3d_kctx *k, const ssl3d_conv_geom *gt, const float *w,
                                          const float *dy, float *dx);
    /* dw += dL/dw (channels-vectorised; Cin >= 4) */
    ssl3d_status (*direct_backward_weights)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                            const float *dy, float *dw);
    /* dw += dL/dw and (db not NULL) db += dL/db for few input channels, vectorised along W
     * (stride 1 along W); one sweep over dy for both */
    ssl3d_status (*small_backward_weights)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                           const float *dy, float *dw, float *db);
    /* y = (accumulate ? y : 0) + conv(x, w) + b for few input channels (Cin*kvol <= 108),
     * vectorised along W (stride 1 along W) */
    ssl3d_status (*small_forward)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                  const float *w, const float *b, float *y, int accumulate);
} cpu_conv_isa;

extern const cpu_conv_isa cpu_conv_isa_generic, cpu_conv_isa_avx2, cpu_conv_isa_avx512;
extern const cpu_conv_isa cpu_conv_isa_narrow_avx512;   /* avx512's table for <= 16 output channels */

/* The table for a new context: SSL3D_CPU_ISA if set, else the best this CPU supports.
 * NULL, with the reason in msg, when SSL3D_CPU_ISA is unknown or not supported here. */
const cpu_conv_isa *cpu_isa_select(char *msg, size_t cap);

/* Whether this CPU (and OS) can run the named ISA's kernels. */
int cpu_isa_supported(const char *name);

/* The context's table (from the kernel context's backend state). */
const cpu_conv_isa *cpu_isa_of(const ssl3d_kctx *k);

/* The table to use for a direct kernel producing `cout` channels per position. */
static inline const cpu_conv_isa *cpu_isa_for(const cpu_conv_isa *t, int64_t cout) {
    while (t->narrow && cout <= t->narrow->block) t = t->narrow;
    return t;
}
#endif
