/* Run-time instruction-set selection for the CPU kernels (see cpu_isa.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cpu_isa.h"
#include "cpu_memory.h"

int cpu_isa_supported(const char *name) {
    if (!strcmp(name, "generic")) return 1;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (!strcmp(name, "avx2")) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (!strcmp(name, "avx512"))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma");
#endif
    return 0;
}

static const cpu_conv_isa *by_name(const char *name) {
    if (!strcmp(name, "generic")) return &cpu_conv_isa_generic;
#if defined(__x86_64__) || defined(__i386__)
    if (!strcmp(name, "avx2")) return &cpu_conv_isa_avx2;
    if (!strcmp(name, "avx512")) return &cpu_conv_isa_avx512;
#endif
    return NULL;
}

const cpu_conv_isa *cpu_isa_select(char *msg, size_t cap) {
    const char *env = getenv("SSL3D_CPU_ISA");
    if (env && *env) {
        const cpu_conv_isa *t = by_name(env);
        if (!t) {
            snprintf(msg, cap, "SSL3D_CPU_ISA=%s: unknown instruction set (use generic, avx2 or avx512)", env);
            return NULL;
        }
        if (!cpu_isa_supported(env)) {
            snprintf(msg, cap, "SSL3D_CPU_ISA=%s: this CPU does not support it (%s needs %s)", env, env,
                     !strcmp(env, "avx2") ? "AVX2 and FMA" : "AVX-512 F/BW/VL and FMA");
            return NULL;
        }
        return t;
    }
    if (cpu_isa_supported("avx512")) return by_name("avx512");
    if (cpu_isa_supported("avx2")) return by_name("avx2");
    return &cpu_conv_isa_generic;
}

const cpu_conv_isa *cpu_isa_of(const ssl3d_kctx *k) {
    const cpu_conv_isa *t = k->backend_state ? cpu_state_isa(k->backend_state) : NULL;
    return t ? t : &cpu_conv_isa_generic;
}
