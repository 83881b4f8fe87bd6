/* Direct convolution kernels (no im2col, no BLAS), written once for any SIMD width and
 * compiled once per instruction set: cpu_conv_direct_avx512.c (VW = 16, -mavx512f ...),
 * cpu_conv_direct_narrow_avx512.c (VW = 16, NV = 1: layers of <= 16 output channels),
 * cpu_conv_direct_avx2.c (VW = 8, -mavx2 -mfma), cpu_conv_direct_generic.c (VW = 4, no
 * ISA flags: SSE2 on x86-64, NEON etc. elsewhere). The including file defines
 *   VW        floats per vector,
 *   NV        vectors per output block (optional, default 2; NB = NV*VW channels),
 *   MR, NG    positions per forward tile, input channels per weight-gradient tile
 *             (MR x NV and NG x NV vector accumulators: 6 x 2 for 16 registers, 12 x 2
 *             or 16 x 1 for 32),
 *   ISA_NAME, ISA_KERNELS  the table's name ("avx2") and one-line description,
 *   ISA_NARROW  NULL or the table used for layers of at most its block's channels,
 *   KN(name)  the name with the ISA suffix (every function here, static ones too, carries
 *             it, so a disassembly shows which ISA a function was compiled for),
 * and gets a `const cpu_conv_isa KN(cpu_conv_isa)` table. The vectors are GCC vector
 * types (a scalar times a vector is a broadcast); with -ffp-contract=fast (the AVX files)
 * `c += a * b` compiles to one FMA.
 *
 * The input is copied once per sample into a zero-padded channels-last volume
 * xp (D+2pd, H+2ph, W+2pw, Cin), so every tap of every output position is a contiguous
 * run of Cin floats at a fixed offset and no bounds checks remain. Weights are packed as
 * wp (ceil(Cout/NB), kvol, Cin, NB) with NB = 2*VW output channels per block (zero for
 * padded channels).
 *
 * Forward micro-kernel: up to MR output positions of one output row x NB output channels
 * in NV*MR vector accumulators; per (tap, ci) it loads NB weights (NV vectors) and
 * broadcasts one input per position. Each weight vector serves up to MR positions, so the
 * weight panel streamed from L2 costs 4/MR bytes per flop: MR = 12 with AVX-512's 32
 * registers (6 with 16). Taps that read only zero padding are skipped (fwd_tile).
 * Weight-gradient micro-kernel: up to NG input channels x NB output channels for one tap,
 * reducing over the output positions of a task: per position 2 vectors of dY
 * (channels-last) and NG broadcast inputs -> 2*NG FMAs. Per-thread partials are summed in
 * thread order, so results are reproducible for a given ISA and thread count. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "cpu_conv_impl.h"
#include "cpu_isa.h"
#include "cpu_memory.h"

#ifndef NV
#define NV 2      /* vectors per output block */
#endif
#define NB (NV * VW)
typedef float KN(vf) __attribute__((vector_size(VW * 4)));
#define vf KN(vf)
/* 1 when this file is compiled for its vectors' instruction set (the Makefile's per-file
 * ISA_FLAGS): zmm with AVX-512F, ymm with AVX. Streaming stores and register operands of
 * asm need it; a build that compiles the file without those flags (the clang fuzz build)
 * gets plain stores and no register pinning. */
#if (VW == 16 && defined(__AVX512F__)) || (VW == 8 && defined(__AVX__))
#define KN_AVX_TARGET 1
#include <immintrin.h>
#else
#define KN_AVX_TARGET 0
#endif

static inline vf KN(vload)(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void KN(vstore)(float *p, vf v) { memcpy(p, &v, sizeof v); }
static inline int64_t KN(min64)(int64_t a, int64_t b) { return a < b ? a : b; }
static inline int64_t KN(max64)(int64_t a, int64_t b) { return a > b ? a : b; }
/* Scratch: 64-byte aligned, from the context's arena (cpu_scratch_take: grown once, no
 * page faults afterwards) when it is free, else from malloc; never from the block cache:
 * scratch sizes that match no cached block would make the cache give back activation
 * blocks, and a 2D batch step then re-faulted and re-zeroed hundreds of MB (measured on
 * W5). A call that needs several buffers takes one block and cuts it (scratch_cut). */
static inline float *KN(scratch)(const ssl3d_kctx *k, int64_t nfloats) {
    const size_t bytes = (size_t)((nfloats * 4 + 63) / 64 * 64);
    float *p = cpu_scratch_take(k->backend_state, bytes);
    return p ? p : aligned_alloc(64, bytes);
}
static inline float *KN(scratch0)(const ssl3d_kctx *k, int64_t nfloats) {
    float *p = KN(scratch)(k, nfloats);
    if (p) memset(p, 0, (size_t)nfloats * sizeof *p);
    return p;
}
static inline void KN(release)(const ssl3d_kctx *k, void *p) { cpu_scratch_give(k->backend_state, p); }
/* n floats rounded up to whole 64-byte lines, so that buffers cut from one block stay aligned */
static inline int64_t KN(lines)(int64_t n) { return (n + 15) / 16 * 16; }

typedef struct KN(dgeom) {
    int64_t n, cin, cout, cb;          /* cb = ceil(cout/NB) output blocks */
    int64_t D, H, W, Dp, Hp, Wp;       /* input and padded extents */
    int64_t Do, Ho, Wo, P;
    int64_t kd, kh, kw, kvol;
    int64_t sd, sh, sw;
    int64_t pd, ph, pw;
} KN(dgeom);
#define dgeom KN(dgeom)

static dgeom KN(dgeom_of)(const ssl3d_conv_geom *g) {
    dgeom d;
    d.n = g->n; d.cin = g->cin; d.cout = g->cout; d.cb = (g->cout + NB - 1) / NB;
    d.D = g->in[0]; d.H = g->in[1]; d.W = g->in[2];
    d.Dp = d.D + 2 * g->pad[0]; d.Hp = d.H + 2 * g->pad[1]; d.Wp = d.W + 2 * g->pad[2];
    d.Do = g->out[0]; d.Ho = g->out[1]; d.Wo = g->out[2]; d.P = d.Do * d.Ho * d.Wo;
    d.kd = g->k[0]; d.kh = g->k[1]; d.kw = g->k[2]; d.kvol = d.kd * d.kh * d.kw;
    d.sd = g->stride[0]; d.sh = g->stride[1]; d.sw = g->stride[2];
    d.pd = g->pad[0]; d.ph = g->pad[1]; d.pw = g->pad[2];
    return d;
}

/* r[i][l] <-> r[l][i]: a VW x VW block transposed in registers, log2(VW) stages; the
 * stage of distance h swaps the off-diagonal h x h blocks of every 2h x 2h block (one
 * two-input shuffle per output row). The channels-last copies below move VW x VW blocks
 * this way instead of one float at a time (they were 9% of a W1c step). */
#if VW == 16
#define KN_LANES(F) F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7), F(8), F(9), F(10), F(11), F(12), F(13), F(14), F(15)
#elif VW == 8
#define KN_LANES(F) F(0), F(1), F(2), F(3), F(4), F(5), F(6), F(7)
#else
#define KN_LANES(F) F(0), F(1), F(2), F(3)
#endif
/* __builtin_shufflevector (constant lane indices) is understood by GCC >= 12 and clang
 * alike; the fuzz build compiles these kernels with clang. */
#define KN_STAGE(H)                                                                                     \
    {                                                                                                   \
        _Pragma("GCC unroll 16") for (int i = 0; i < VW; i++) if (!(i & (H))) {                         \
            const vf a = r[i], b = r[i + (H)];                                                          \
            r[i] = __builtin_shufflevector(a, b, KN_LANES(KN_LO##H));                                   \
            r[i + (H)] = __builtin_shufflevector(a, b, KN_LANES(KN_HI##H));                             \
        }                                                                                               \
    }
/* lane l of the new row i: a[l] or b[l-h]; of the new row i+h: a[l+h] or b[l] (b's lanes are VW..2VW-1) */
#define KN_LO8(l) (((l) & 8) ? VW + (l) - 8 : (l))
#define KN_HI8(l) (((l) & 8) ? VW + (l) : (l) + 8)
#define KN_LO4(l) (((l) & 4) ? VW + (l) - 4 : (l))
#define KN_HI4(l) (((l) & 4) ? VW + (l) : (l) + 4)
#define KN_LO2(l) (((l) & 2) ? VW + (l) - 2 : (l))
#define KN_HI2(l) (((l) & 2) ? VW + (l) : (l) + 2)
#define KN_LO1(l) (((l) & 1) ? VW + (l) - 1 : (l))
#define KN_HI1(l) (((l) & 1) ? VW + (l) : (l) + 1)
static inline void KN(transpose)(vf r[VW]) {
#if VW >= 16
    KN_STAGE(8)
#endif
#if VW >= 8
    KN_STAGE(4)
#endif
    KN_STAGE(2)
    KN_STAGE(1)
}

/* dst[i][c0 .. c0+nc) <- src[c*cs + i] for positions i < VW (c = c0 ..): one channel run of
 * VW consecutive positions per source row, written as one VW-channel vector per position.
 * nc = VW moves whole blocks; fewer channels go one at a time. */
static inline void KN(block_to_channels_last)(const float *src, int64_t cs, int64_t nc, float *const dst[VW]) {
    if (nc == VW) {
        vf r[VW];
        _Pragma("GCC unroll 16") for (int i = 0; i < VW; i++) r[i] = KN(vload)(src + i * cs);
        KN(transpose)(r);
        _Pragma("GCC unroll 16") for (int i = 0; i < VW; i++) KN(vstore)(dst[i], r[i]);
    } else {
        for (int64_t c = 0; c < nc; c++)
            for (int i = 0; i < VW; i++) dst[i][c] = src[c * cs + i];
    }
}

/* Plane dp of xp (Dp, Hp, Wp, C) <- x (C, D, H, W) of one sample with zero borders. The
 * interior of a plane is moved in blocks of VW positions (consecutive in the H*W plane, so
 * a block may span rows) x VW channels. */
static void KN(pad_plane)(const dgeom *d, const float *x, int64_t dp, float *xp) {
    const int64_t C = d->cin, pd = d->pd, ph = d->ph, pw = d->pw;
    const int64_t plane = d->Hp * d->Wp * C, HW = d->H * d->W, cstride = d->D * HW;
    {
        const int64_t id = dp - pd;
        float *o = xp + dp * plane;
        if (id < 0 || id >= d->D) { memset(o, 0, (size_t)plane * sizeof *o); return; }
        /* zero the border rows and columns */
        for (int64_t hp = 0; hp < d->Hp; hp++) {
            const int64_t ih = hp - ph;
            float *orow = o + hp * d->Wp * C;
            if (ih < 0 || ih >= d->H) { memset(orow, 0, (size_t)(d->Wp * C) * sizeof *o); continue; }
            memset(orow, 0, (size_t)(pw * C) * sizeof *o);
            memset(orow + (pw + d->W) * C, 0, (size_t)((d->Wp - pw - d->W) * C) * sizeof *o);
        }
        /* the interior: position q = ih*W + iw of the plane goes to (ih+ph, iw+pw) */
        const float *xs = x + id * HW;
        int64_t q = 0, ih = 0, iw = 0;
        for (; q + VW <= HW; q += VW) {
            float *dst[VW];
            for (int i = 0; i < VW; i++) {
                dst[i] = o + ((ih + ph) * d->Wp + iw + pw) * C;
                if (++iw == d->W) { iw = 0; ih++; }
            }
            for (int64_t c0 = 0; c0 < C; c0 += VW) {
                float *dc[VW];
                for (int i = 0; i < VW; i++) dc[i] = dst[i] + c0;
                KN(block_to_channels_last)(xs + c0 * cstride + q, cstride, KN(min64)(VW, C - c0), dc);
            }
        }
        for (; q < HW; q++) {
            float *dst = o + ((ih + ph) * d->Wp + iw + pw) * C;
            for (int64_t c = 0; c < C; c++) dst[c] = xs[c * cstride + q];
            if (++iw == d->W) { iw = 0; ih++; }
        }
    }
}

/* xp (Dp, Hp, Wp, C) <- x (C, D, H, W) of one sample with zero borders; parallel over d. */
static void KN(pad_channels_last)(const ssl3d_kctx *k, const dgeom *d, const float *x, float *xp) {
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t dp = 0; dp < d->Dp; dp++) KN(pad_plane)(d, x, dp, xp);
}

/* wp (cb, kvol, Cin, NB) <- the weights of output channel co, input channel ci, tap t at
 * w[co*s_co + ci*s_ci + (flip ? kvol-1-t : t)], zero for padded output channels: w
 * (Cout, Cin, kvol) itself (s_co = Cin*kvol, s_ci = kvol), or for the input gradient its
 * flipped transpose read in place (s_co = kvol, s_ci = Cout'*kvol, flip). This writes the
 * part of (block, input channel) bc = cb*Cin + ci; the callers split the bc in parallel
 * (a deep layer's weights are MBs, and packing them serially cost a fifth of a
 * 128-channel conv's step). The NB x kvol taps are read as NB contiguous runs into a small
 * transposed tile, then written as kvol contiguous runs of NB floats. */
static void KN(pack_weights)(const dgeom *d, const float *w, int64_t s_co, int64_t s_ci, int flip, int64_t bc,
                             float *wp) {
    const int64_t kv = d->kvol, cn = d->cin;
    {
        const int64_t cb = bc / cn, ci = bc % cn, nco = KN(min64)(NB, d->cout - cb * NB);
        float tile[27 * NB];
        for (int64_t t0 = 0; t0 < kv; t0 += 27) {
            const int64_t nt = KN(min64)(27, kv - t0);
            for (int64_t j = 0; j < NB; j++) {
                if (j >= nco) { for (int64_t t = 0; t < nt; t++) tile[t * NB + j] = 0.0f; continue; }
                const float *src = w + (cb * NB + j) * s_co + ci * s_ci;
                if (flip) for (int64_t t = 0; t < nt; t++) tile[t * NB + j] = src[kv - 1 - (t0 + t)];
                else for (int64_t t = 0; t < nt; t++) tile[t * NB + j] = src[t0 + t];
            }
            for (int64_t t = 0; t < nt; t++)
                memcpy(wp + ((cb * kv + t0 + t) * cn + ci) * NB, tile + t * NB, NB * sizeof *wp);
        }
    }
}

/* Offsets (floats) of each tap inside xp relative to the tap (0,0,0) of a position. */
static void KN(tap_offsets)(const dgeom *d, int64_t *off) {
    int64_t t = 0;
    for (int64_t a = 0; a < d->kd; a++)
        for (int64_t b = 0; b < d->kh; b++)
            for (int64_t c = 0; c < d->kw; c++) off[t++] = ((a * d->Hp + b) * d->Wp + c) * d->cin;
}

/* Taps t in [0, k) along one axis that read inside the input (0 <= o*s + t - p < n) for
 * output coordinate o: [*lo, *hi), empty when *hi <= *lo. The others read only the zero
 * padding and are skipped: at 6x8x6 (W1e) 28% of a 3x3x3 layer's multiply-adds fall on
 * the padding, at 12x16x12 15%, at 24x32x24 8% (oneDNN skips them too). */
static inline void KN(tap_range)(int64_t o, int64_t s, int64_t p, int64_t n, int64_t k, int64_t *lo, int64_t *hi) {
    const int64_t base = o * s - p;
    *lo = KN(max64)(0, -base);
    *hi = KN(min64)(k, n - base);
}

/* ceil(a / s) for s > 0 and any sign of a */
static inline int64_t KN(ceil_div)(int64_t a, int64_t s) { return a >= 0 ? (a + s - 1) / s : -((-a) / s); }

/* out[r][0..NB) for the N (<= MR, a compile-time constant once inlined) consecutive
 * output positions r of one output row = sum over the taps (a, b, c) with a in [a0, a1),
 * b in [b0, b1), c in [0, kw), and over ci, of x[r][tap][ci] * wpanel[tap][ci][0..NB).
 * Position r's tap-(0,0,0) input is x0 + r*ps; iw0 is the input column of position 0 at
 * tap c = 0 (ow0*sw - pw). Along W a tap whose column is padding for the first (or the
 * last) position of the tile skips that position: one of three copies of the inner loop,
 * chosen per tap, with the position set fixed at compile time; a tap that is padding for
 * every position is skipped, any other mix reads the zero padding. The accumulators
 * (N x NV vectors) stay in registers: the loops over r are fully unrolled. */
static inline __attribute__((always_inline)) void KN(fwd_tile)(const int N, const dgeom *d, const float *x0,
                                                               int64_t ps, const int64_t *off, const float *wpanel,
                                                               int64_t a0, int64_t a1, int64_t b0, int64_t b1,
                                                               int64_t iw0, float out[MR][NB]) {
    vf acc[MR][NV];
    _Pragma("GCC unroll 32") for (int r = 0; r < MR; r++)
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) if (r < N) acc[r][v] = (vf){ 0 };
    const int64_t cin = d->cin;
#define KN_FWD_CI(LO, HI)                                                                                 \
    for (int64_t ci = 0; ci < cin; ci++) {                                                               \
        vf bw[NV];                                                                                        \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) bw[v] = KN(vload)(wt + ci * NB + v * VW);   \
        _Pragma("GCC unroll 32") for (int r = 0; r < MR; r++) if (r < N && r >= (LO) && r < N - (HI)) {  \
            const float xv = xt[r * ps + ci];                                                             \
            _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[r][v] += xv * bw[v];                 \
        }                                                                                                 \
    }
    for (int64_t a = a0; a < a1; a++)
        for (int64_t b = b0; b < b1; b++)
            for (int64_t c = 0; c < d->kw; c++) {
                const int64_t t = (a * d->kh + b) * d->kw + c, col = iw0 + c;
                const float *xt = x0 + off[t], *wt = wpanel + t * cin * NB;
                /* positions r < lo read column < 0, positions r >= N - hi column >= W */
                const int64_t lo = KN(max64)(0, KN(ceil_div)(-col, d->sw));
                const int64_t hi = KN(max64)(0, N - KN(max64)(0, KN(ceil_div)(d->W - col, d->sw)));
                if (lo + hi >= N) continue;
                if (lo == 1 && hi == 0) { KN_FWD_CI(1, 0) }
                else if (lo == 0 && hi == 1) { KN_FWD_CI(0, 1) }
                else { KN_FWD_CI(0, 0) }
            }
#undef KN_FWD_CI
    _Pragma("GCC unroll 32") for (int r = 0; r < MR; r++)
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) if (r < N) KN(vstore)(out[r] + v * VW, acc[r][v]);
}

/* fwd_tile for a run-time n in [1, MR]: one specialised copy per tile width. */
static void KN(fwd_tile_n)(int64_t n, const dgeom *d, const float *x0, int64_t ps, const int64_t *off,
                           const float *wpanel, int64_t a0, int64_t a1, int64_t b0, int64_t b1, int64_t iw0,
                           float out[MR][NB]) {
    switch (n) {
#define KN_TILE(c) case c: if (c <= MR) KN(fwd_tile)(c, d, x0, ps, off, wpanel, a0, a1, b0, b1, iw0, out); break;
    KN_TILE(1) KN_TILE(2) KN_TILE(3) KN_TILE(4) KN_TILE(5) KN_TILE(6) KN_TILE(7) KN_TILE(8)
    KN_TILE(9) KN_TILE(10) KN_TILE(11) KN_TILE(12) KN_TILE(13) KN_TILE(14) KN_TILE(15) KN_TILE(16)
#undef KN_TILE
    default: break;
    }
}

/* Tasks of one sample: (output plane, block of rb rows), at least ~4 per thread. */
static void KN(task_split)(const dgeom *d, int32_t threads, int64_t *rb, int64_t *nrb) {
    int64_t want = (4 * (int64_t)threads + d->Do - 1) / d->Do;   /* row blocks per plane */
    want = KN(max64)(1, KN(min64)(want, d->Ho));
    *rb = (d->Ho + want - 1) / want;
    *nrb = (d->Ho + *rb - 1) / *rb;
}

/* One forward task of sample ni: output plane od, rows r0..r1-1, every output block. A row
 * of Wo positions is cut into ceil(Wo/MR) tiles of near-equal width (a tile never spans
 * rows, so whole rows of taps that read padding along D and H are skipped). Output blocks
 * are the outer loop so that one packed weight panel (kvol*Cin*NB floats) stays in L2
 * across the task's positions. */
static void KN(fwd_task)(const dgeom *d, const float *xp, const float *wp, const int64_t *off, const float *b,
                         float *y, int accumulate, int64_t ni, int64_t od, int64_t r0, int64_t r1) {
    float out[MR][NB];
    const int64_t nt = (d->Wo + MR - 1) / MR, ps = d->sw * d->cin;
    int64_t a0, a1;
    KN(tap_range)(od, d->sd, d->pd, d->D, d->kd, &a0, &a1);
    for (int64_t cb = 0; cb < d->cb; cb++) {
        const float *panel = wp + cb * d->kvol * d->cin * NB;
        const int64_t nco = KN(min64)(NB, d->cout - cb * NB);
        float *yplane = y + (ni * d->cout + cb * NB) * d->P + od * d->Ho * d->Wo;
        for (int64_t oh = r0; oh < r1; oh++) {
            int64_t b0, b1;
            KN(tap_range)(oh, d->sh, d->ph, d->H, d->kh, &b0, &b1);
            const float *xrow = xp + ((od * d->sd) * d->Hp + oh * d->sh) * d->Wp * d->cin;
            for (int64_t ti = 0; ti < nt; ti++) {
                const int64_t ow0 = ti * d->Wo / nt, n = (ti + 1) * d->Wo / nt - ow0;
                KN(fwd_tile_n)(n, d, xrow + ow0 * ps, ps, off, panel, a0, a1, b0, b1, ow0 * d->sw - d->pw, out);
                for (int64_t j = 0; j < nco; j++) {
                    float *yo = yplane + j * d->P + oh * d->Wo + ow0;
                    const float bv = b ? b[cb * NB + j] : 0.0f;
                    if (accumulate) for (int64_t r = 0; r < n; r++) yo[r] += out[r][j] + bv;
                    else for (int64_t r = 0; r < n; r++) yo[r] = out[r][j] + bv;
                }
            }
        }
    }
}

/* Whether to give each thread whole samples (its own padded copy) instead of splitting
 * every sample across the threads: many small samples (2D batches, CPC / exemplar patches)
 * would otherwise pay two parallel regions and their barriers per sample and layer. */
static int KN(by_sample)(const ssl3d_kctx *k, const ssl3d_conv_geom *g) {
    const int64_t p = g->out[0] * g->out[1] * g->out[2];
    const int64_t T = k->threads;
    return T > 1 && g->n >= T && (g->n % T == 0 || g->n >= 4 * T) && p <= 32768;
}

/* y = (accumulate ? y : 0) + conv(x, w) + b. Either samples one after the other, each
 * split into tasks run in parallel (the padded copy is one sample's worth of scratch), or
 * (by_sample) whole samples per thread with one padded copy per thread. Every task walks
 * all output blocks so that one packed weight panel (kvol*Cin*NB floats) stays in L2
 * while it is used across the task's positions. */
static ssl3d_status KN(forward_strided)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                        const float *w, int64_t s_co, int64_t s_ci, int flip, const float *b,
                                        float *y, int accumulate) {
    ssl3d_conv_geom g1 = *g;
    g1.n = 1;
    const dgeom d = KN(dgeom_of)(&g1);
    const int32_t T = k->threads;
    const int per_sample = KN(by_sample)(k, g);
    const int64_t xpn = d.Dp * d.Hp * d.Wp * d.cin, inv = d.D * d.H * d.W;
    const int64_t nxp = KN(lines)((per_sample ? T : 1) * xpn);
    float *xp = KN(scratch)(k, nxp + KN(lines)(d.cb * d.kvol * d.cin * NB)), *wp = xp + nxp;
    int64_t *off = malloc((size_t)d.kvol * sizeof *off);
    if (!xp || !off) { KN(release)(k, xp); free(off); return SSL3D_ERR_NOMEM; }
    KN(tap_offsets)(&d, off);
    int64_t rb, nrb;
    KN(task_split)(&d, T, &rb, &nrb);
    const int64_t tasks = d.Do * nrb;
    /* one parallel region for the whole pass: packing, then per sample (or per thread's
     * samples) the padded copy and the tiles; the work-sharing loops' barriers order them */
    #pragma omp parallel num_threads(T)
    {
        #pragma omp for schedule(static)
        for (int64_t bc = 0; bc < d.cb * d.cin; bc++) KN(pack_weights)(&d, w, s_co, s_ci, flip, bc, wp);
        if (per_sample) {
            #pragma omp for schedule(static)
            for (int64_t ni = 0; ni < g->n; ni++) {
                float *xpt = xp + (int64_t)omp_get_thread_num() * xpn;
                for (int64_t dp = 0; dp < d.Dp; dp++) KN(pad_plane)(&d, x + ni * d.cin * inv, dp, xpt);
                for (int64_t od = 0; od < d.Do; od++) KN(fwd_task)(&d, xpt, wp, off, b, y, accumulate, ni, od, 0, d.Ho);
            }
        } else {
            for (int64_t ni = 0; ni < g->n; ni++) {
                #pragma omp for schedule(static)
                for (int64_t dp = 0; dp < d.Dp; dp++) KN(pad_plane)(&d, x + ni * d.cin * inv, dp, xp);
                #pragma omp for schedule(static)
                for (int64_t t = 0; t < tasks; t++) {
                    const int64_t od = t / nrb, r0 = (t % nrb) * rb;
                    KN(fwd_task)(&d, xp, wp, off, b, y, accumulate, ni, od, r0, KN(min64)(r0 + rb, d.Ho));
                }
            }
        }
    }
    KN(release)(k, xp); free(off);
    return SSL3D_OK;
}

static ssl3d_status KN(forward)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x, const float *w,
                                const float *b, float *y, int accumulate) {
    return KN(forward_strided)(k, g, x, w, g->cin * g->k[0] * g->k[1] * g->k[2], g->k[0] * g->k[1] * g->k[2], 0, b, y,
                               accumulate);
}

/* dx += conv(dy, w') for stride 1, w'[ci][co][t] = w[co][ci][kvol-1-t], pad k-1-pad: the
 * forward kernel on the transposed geometry `gt` (Cin' = Cout, Cout' = Cin), with the
 * weights packed straight from w (no transposed copy). */
static ssl3d_status KN(backward_input)(const ssl3d_kctx *k, const ssl3d_conv_geom *gt, const float *w,
                                       const float *dy, float *dx) {
    const int64_t kvol = gt->k[0] * gt->k[1] * gt->k[2];
    return KN(forward_strided)(k, gt, dy, w, kvol, gt->cout * kvol, 1, NULL, dx, 1);
}

/* out (N input channels x NB output channels; N <= NG, a compile-time constant once
 * inlined) = sum over the output rows rr0..rr1-1 (rows of all planes, flattened:
 * rr = od*Ho + oh) of x[pos + tap][ci0 + r] * dycl[pos][NB] for tap (ta, tb, tc) at
 * offset tapoff, over the positions whose tap reads inside the input: rows whose tap plane
 * or row is padding are skipped, and along W only the columns ow0..ow1-1 are summed (the
 * others add exact zeros, so the result is the same). */
static inline __attribute__((always_inline)) void KN(wgrad_rows)(const int N, const dgeom *d, const float *xs,
                                                                 const float *dys, int64_t rr0, int64_t rr1,
                                                                 int64_t ta, int64_t tb, int64_t ow0, int64_t ow1,
                                                                 int64_t tapoff, int64_t ci0, int64_t cb,
                                                                 float out[NG][NB]) {
    vf acc[NG][NV];
    _Pragma("GCC unroll 32") for (int r = 0; r < NG; r++)
        _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) if (r < N) acc[r][v] = (vf){ 0 };
    const int64_t C = d->cin, CP = d->cb * NB, ps = d->sw * C;
    int64_t od = rr0 / d->Ho, oh = rr0 - od * d->Ho;   /* advanced row by row, no division */
    for (int64_t rr = rr0; rr < rr1; rr++, oh = oh + 1 == d->Ho ? (od++, 0) : oh + 1) {
        const int64_t id = od * d->sd + ta - d->pd, ih = oh * d->sh + tb - d->ph;
        if (id < 0 || id >= d->D || ih < 0 || ih >= d->H) continue;
        const float *xr = xs + ((od * d->sd) * d->Hp + oh * d->sh) * d->Wp * C + tapoff + ci0;
        const float *dr = dys + ((od * d->Ho + oh) * d->Wo) * CP + cb * NB;
        for (int64_t ow = ow0; ow < ow1; ow++) {
            const float *xq = xr + ow * ps;
            vf b[NV];
            _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) b[v] = KN(vload)(dr + ow * CP + v * VW);
            _Pragma("GCC unroll 32") for (int r = 0; r < NG; r++)
                _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) if (r < N) acc[r][v] += xq[r] * b[v];
        }
    }
    _Pragma("GCC unroll 32") for (int r = 0; r < NG; r++)
        _Pragma("GCC unroll 2") for (int v = 0; v < NV; v++) if (r < N) KN(vstore)(out[r] + v * VW, acc[r][v]);
}

/* wgrad_rows for a run-time group width n in [1, NG]: one specialised copy per width, so
 * channel groups are cut to near-equal widths with no padded lanes (Cin = 32 in groups of
 * 12 wasted 11% of the multiply-adds on a repeated channel). */
static void KN(wgrad_rows_n)(int64_t n, const dgeom *d, const float *xs, const float *dys, int64_t rr0,
                             int64_t rr1, int64_t ta, int64_t tb, int64_t ow0, int64_t ow1, int64_t tapoff,
                             int64_t ci0, int64_t cb, float out[NG][NB]) {
    switch (n) {
#define KN_GRP(c) case c: if (c <= NG) KN(wgrad_rows)(c, d, xs, dys, rr0, rr1, ta, tb, ow0, ow1, tapoff, ci0, cb, out); break;
    KN_GRP(1) KN_GRP(2) KN_GRP(3) KN_GRP(4) KN_GRP(5) KN_GRP(6) KN_GRP(7) KN_GRP(8)
    KN_GRP(9) KN_GRP(10) KN_GRP(11) KN_GRP(12) KN_GRP(13) KN_GRP(14) KN_GRP(15) KN_GRP(16)
#undef KN_GRP
    default: break;
    }
}

/* Positions t*VW .. t*VW+VW-1 of dycl (P, cb*NB) <- dy (Cout, P) of one sample, zero for
 * padded channels, moved VW channels at a time (block_to_channels_last). */
static void KN(dy_block)(const dgeom *d, const float *dy, int64_t t, float *dycl) {
    const int64_t CP = d->cb * NB;
    {
        const int64_t p0 = t * VW, p1 = KN(min64)(p0 + VW, d->P);
        if (CP != d->cout)
            for (int64_t p = p0; p < p1; p++) memset(dycl + p * CP + d->cout, 0, (size_t)(CP - d->cout) * sizeof *dycl);
        if (p1 - p0 == VW) {
            for (int64_t c0 = 0; c0 < d->cout; c0 += VW) {
                float *dc[VW];
                for (int i = 0; i < VW; i++) dc[i] = dycl + (p0 + i) * CP + c0;
                KN(block_to_channels_last)(dy + c0 * d->P + p0, d->P, KN(min64)(VW, d->cout - c0), dc);
            }
        } else {
            for (int64_t co = 0; co < d->cout; co++)
                for (int64_t p = p0; p < p1; p++) dycl[p * CP + co] = dy[co * d->P + p];
        }
    }
}

static void KN(dy_channels_last)(const ssl3d_kctx *k, const dgeom *d, const float *dy, float *dycl) {
    const int64_t nb = (d->P + VW - 1) / VW;
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t t = 0; t < nb; t++) KN(dy_block)(d, dy, t, dycl);
}

/* The weight gradient is cut into units (output block cb, tap, input-channel group gi),
 * numbered u = (cb*kvol + tap)*ngrp + gi, each NB x (<= NG) weights. Tap-major: the
 * groups of one tap read the same input positions one after the other (group-major
 * order re-read the chunk's input from L2 for every group: W1c and W1d 5-10% slower). */
typedef struct KN(wunits) {
    int64_t ngrp, n;       /* channel groups per tap, units in all */
} KN(wunits);

static KN(wunits) KN(wunits_of)(const dgeom *d) {
    KN(wunits) w;
    w.ngrp = (d->cin + NG - 1) / NG;
    w.n = d->cb * d->kvol * w.ngrp;
    return w;
}

/* Whether a sample's padded input and channels-last dY fit in half of a 1 MB L2 (then
 * wgrad_task sweeps it as one chunk). */
static int KN(small_sample)(const dgeom *d) {
    return (d->Dp * d->Hp * d->Wp * d->cin + d->P * d->cb * NB) * 4 <= (512 << 10);
}

/* pt (packed partial) = (store ? 0 : pt) + the weight gradient of units u0..u1-1 over the
 * output rows r0..r1-1 of one sample, swept in chunks of ~128 positions (or the whole
 * sample, when small) whose input rows and dY stay in L1/L2 while every unit reads them.
 * With `store` the first chunk writes its sums instead of adding them, so the partial
 * needs no zero-filling first (an empty row range zero-fills the units). */
static void KN(wgrad_task)(const dgeom *d, const float *xp, const float *dycl, const int64_t *off, int64_t r0,
                           int64_t r1, int64_t u0, int64_t u1, int store, float *pt) {
    /* a sample whose padded input and dY fit in half of a 1 MB L2 is one chunk: the partial
     * (Cin*Cout*kvol floats, 1.8 MB at 128 -> 128 channels) is then written once per sample
     * instead of once per 128 positions */
    const int64_t small = KN(small_sample)(d);
    const KN(wunits) un = KN(wunits_of)(d);
    const int64_t chunk_rows = small ? r1 - r0 : KN(max64)(1, (128 + d->Wo - 1) / d->Wo);
    float out[NG][NB];
    if (store && r0 >= r1) {
        for (int64_t u = u0; u < u1; u++) {
            const int64_t gi = u % un.ngrp, cbt = u / un.ngrp;
            const int64_t ci0 = gi * d->cin / un.ngrp, nci = (gi + 1) * d->cin / un.ngrp - ci0;
            memset(pt + (cbt * d->cin + ci0) * NB, 0, (size_t)(nci * NB) * sizeof *pt);
        }
        return;
    }
    for (int64_t c0 = r0; c0 < r1; c0 += chunk_rows) {
        const int64_t c1 = KN(min64)(c0 + chunk_rows, r1);
        const int first = store && c0 == r0;
        for (int64_t u = u0; u < u1; u++) {
            const int64_t gi = u % un.ngrp, cbt = u / un.ngrp, tap = cbt % d->kvol, cb = cbt / d->kvol;
            const int64_t ta = tap / (d->kh * d->kw), tb = tap / d->kw % d->kh, tc = tap % d->kw;
            int64_t ow0, ow1;   /* columns whose tap tc reads inside the input */
            ow0 = KN(min64)(d->Wo, KN(max64)(0, KN(ceil_div)(d->pw - tc, d->sw)));
            ow1 = KN(max64)(ow0, KN(min64)(d->Wo, KN(ceil_div)(d->W + d->pw - tc, d->sw)));
            /* groups of near-equal width <= NG */
            const int64_t ci0 = gi * d->cin / un.ngrp, nci = (gi + 1) * d->cin / un.ngrp - ci0;
            KN(wgrad_rows_n)(nci, d, xp, dycl, c0, c1, ta, tb, ow0, ow1, off[tap], ci0, cb, out);
            float *dst = pt + (cbt * d->cin + ci0) * NB;
            if (first)
                for (int64_t r = 0; r < nci; r++) memcpy(dst + r * NB, out[r], NB * sizeof *dst);
            else
                for (int64_t r = 0; r < nci; r++)
                    for (int64_t j = 0; j < NB; j++) dst[r * NB + j] += out[r][j];
        }
    }
}

/* Multiply-adds of each tap per sample and input channel, up to a common factor: the
 * output positions whose tap reads inside the input (for splitting the units evenly). */
static void KN(tap_costs)(const dgeom *d, int64_t *cost) {
    for (int64_t tap = 0; tap < d->kvol; tap++) {
        const int64_t ta = tap / (d->kh * d->kw), tb = tap / d->kw % d->kh, tc = tap % d->kw;
        int64_t nd = 0, nh = 0, nw = 0;
        for (int64_t o = 0; o < d->Do; o++) { const int64_t i = o * d->sd + ta - d->pd; nd += i >= 0 && i < d->D; }
        for (int64_t o = 0; o < d->Ho; o++) { const int64_t i = o * d->sh + tb - d->ph; nh += i >= 0 && i < d->H; }
        for (int64_t o = 0; o < d->Wo; o++) { const int64_t i = o * d->sw + tc - d->pw; nw += i >= 0 && i < d->W; }
        cost[tap] = nd * nh * nw;
    }
}

static inline int64_t KN(unit_cost)(const dgeom *d, const KN(wunits) *un, const int64_t *tcost, int64_t u) {
    const int64_t gi = u % un->ngrp;
    const int64_t nci = (gi + 1) * d->cin / un->ngrp - gi * d->cin / un->ngrp;
    return tcost[u / un->ngrp % d->kvol] * nci + 16;   /* + the unit's fixed cost (its accumulators and stores) */
}

/* Units [*u0, *u1) of thread tid of nt: consecutive runs of near-equal cost (unit u goes to
 * the thread whose share [t*total/nt, (t+1)*total/nt) holds the midpoint of its cost). */
static void KN(unit_range)(const dgeom *d, const KN(wunits) *un, const int64_t *tcost, int64_t tid, int64_t nt,
                           int64_t *u0, int64_t *u1) {
    int64_t total = 0, acc = 0;
    for (int64_t u = 0; u < un->n; u++) total += KN(unit_cost)(d, un, tcost, u);
    int got0 = 0;
    *u0 = *u1 = un->n;
    for (int64_t u = 0; u < un->n; u++) {
        const int64_t c = KN(unit_cost)(d, un, tcost, u);
        const int64_t owner = KN(min64)(nt - 1, (2 * acc + c) * nt / (2 * total));
        acc += c;
        if (!got0 && owner >= tid) { *u0 = u; got0 = 1; }
        if (owner > tid) { *u1 = u; return; }
    }
}

/* dw (Cout, Cin, kvol) += the packed units u0..u1-1 of pt (cb, tap, ci, NB). Per (block,
 * group) the units own one run of taps; per weight row (co, ci) those taps are contiguous
 * in dw, and the rows of a group are too, so the writes go in address order (dw is cold,
 * and any other order defeats the prefetcher), reading the tap vectors from a tile (in
 * pt they are Cin*NB floats apart, which maps them all to one L1 set). */
static void KN(unpack_units)(const dgeom *d, const KN(wunits) *un, const float *pt, int64_t u0, int64_t u1,
                             float *dw) {
    if (u0 >= u1) return;
    const int64_t kv = d->kvol, cn = d->cin, ng = un->ngrp;
    for (int64_t cb = u0 / (kv * ng); cb <= (u1 - 1) / (kv * ng); cb++)
        for (int64_t gi = 0; gi < ng; gi++) {
            /* taps t of this (block, group) whose unit (cb*kv + t)*ng + gi is in [u0, u1) */
            const int64_t base = cb * kv * ng + gi;
            const int64_t tl = KN(max64)(0, KN(ceil_div)(u0 - base, ng)), th = KN(min64)(kv, KN(ceil_div)(u1 - base, ng));
            const int64_t ci0 = gi * cn / ng, nci = (gi + 1) * cn / ng - ci0;
            const int64_t nco = KN(min64)(NB, d->cout - cb * NB);
            for (int64_t tb = tl; tb < th; tb += 27) {
                const int64_t nt = KN(min64)(27, th - tb);
                float tile[NG * 27 * NB];   /* (ci, t, NB): 41 KB at most */
                for (int64_t t = 0; t < nt; t++)
                    for (int64_t c = 0; c < nci; c++)
                        memcpy(tile + (c * nt + t) * NB, pt + ((cb * kv + tb + t) * cn + ci0 + c) * NB,
                               NB * sizeof *tile);
                for (int64_t j = 0; j < nco; j++)
                    for (int64_t c = 0; c < nci; c++) {
                        float *dst = dw + ((cb * NB + j) * cn + ci0 + c) * kv + tb;
                        const float *src = tile + c * nt * NB + j;
                        for (int64_t t = 0; t < nt; t++) dst[t] += src[t * NB];
                    }
            }
        }
}

/* dw += dL/dw, the weights split between the threads (by_units): each thread owns a run of
 * units and sums them over every position of every sample, so no two threads add into the
 * same weight, no per-thread partials need summing, and the result does not depend on the
 * thread count. One parallel region: per group of samples (as many as fit 1 MB of padded
 * input and channels-last dY), the threads pad them together, then each sweeps its units
 * over them; at the end each unpacks its own units into dw. */
static ssl3d_status KN(backward_weights_units)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                               const float *dy, float *dw) {
    ssl3d_conv_geom g1 = *g;
    g1.n = 1;
    const dgeom d = KN(dgeom_of)(&g1);
    const KN(wunits) un = KN(wunits_of)(&d);
    const int64_t xpn = KN(lines)(d.Dp * d.Hp * d.Wp * d.cin), CP = d.cb * NB, dyn = KN(lines)(d.P * CP);
    const int64_t inv = d.D * d.H * d.W, wlen = d.cb * d.kvol * d.cin * NB, rows = d.Do * d.Ho;
    const int64_t gn = KN(max64)(1, KN(min64)(g->n, ((int64_t)1 << 20) / 4 / (xpn + dyn)));
    const int64_t nbdy = (d.P + VW - 1) / VW;
    float *xp = KN(scratch)(k, gn * (xpn + dyn) + KN(lines)(wlen)), *dycl = xp + gn * xpn, *part = dycl + gn * dyn;
    int64_t *off = malloc((size_t)(2 * d.kvol) * sizeof *off), *tcost = off + d.kvol;
    if (!xp || !off) { KN(release)(k, xp); free(off); return SSL3D_ERR_NOMEM; }
    KN(tap_offsets)(&d, off);
    KN(tap_costs)(&d, tcost);
    #pragma omp parallel num_threads(k->threads)
    {
        int64_t u0, u1;
        KN(unit_range)(&d, &un, tcost, omp_get_thread_num(), omp_get_num_threads(), &u0, &u1);
        for (int64_t s0 = 0; s0 < g->n; s0 += gn) {
            const int64_t ns = KN(min64)(gn, g->n - s0);
            if (s0 > 0) {
                #pragma omp barrier
            }   /* every thread is done with the previous group's copies */
            #pragma omp for schedule(static)
            for (int64_t t = 0; t < ns * (d.Dp + nbdy); t++) {
                const int64_t i = t / (d.Dp + nbdy), r = t % (d.Dp + nbdy), ni = s0 + i;
                if (r < d.Dp) KN(pad_plane)(&d, x + ni * d.cin * inv, r, xp + i * xpn);
                else KN(dy_block)(&d, dy + ni * d.cout * d.P, r - d.Dp, dycl + i * dyn);
            }
            for (int64_t i = 0; i < ns; i++)
                KN(wgrad_task)(&d, xp + i * xpn, dycl + i * dyn, off, 0, rows, u0, u1, s0 + i == 0, part);
        }
        KN(unpack_units)(&d, &un, part, u0, u1, dw);
    }
    KN(release)(k, xp); free(off);
    return SSL3D_OK;
}

/* dw += dL/dw. Three ways to share the reduction over positions between the threads:
 *  - small samples, fewer than 4 per thread: the weights are split (backward_weights_units):
 *    there the per-thread partials (1.8 MB each for 128 -> 128 channels) and their sum
 *    cost as much as a tenth of the pass, and each thread can hold every sample in L2;
 *  - many samples (by_sample): whole samples per thread, each thread into its own partial,
 *    no barrier per sample, the partials' sum spread over many samples;
 *  - otherwise (large samples: W1c, W1d, the first levels) each sample's output rows are
 *    cut into one range per thread: splitting the weights there made both threads stream
 *    every sample through their L2s (W1c 7-10% slower with AVX2 at 2 threads).
 * The last two sum the partials in thread order (static splits: the same for the same
 * thread count). */
static ssl3d_status KN(backward_weights)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                         const float *dy, float *dw) {
    ssl3d_conv_geom g1 = *g;
    g1.n = 1;
    const dgeom d = KN(dgeom_of)(&g1);
    const int32_t T = k->threads;
    const int per_sample = KN(by_sample)(k, g);
    if (KN(small_sample)(&d) && !(per_sample && g->n >= 4 * (int64_t)T))
        return KN(backward_weights_units)(k, g, x, dy, dw);
    const KN(wunits) un = KN(wunits_of)(&d);
    const int64_t xpn = d.Dp * d.Hp * d.Wp * d.cin, CP = d.cb * NB, inv = d.D * d.H * d.W;
    const int64_t wlen = d.cb * d.kvol * d.cin * NB;        /* packed (cb, tap, ci, NB) */
    const int64_t copies = per_sample ? T : 1;
    const int64_t nxp = KN(lines)(copies * xpn), ndy = KN(lines)(copies * d.P * CP);
    float *xp = KN(scratch)(k, nxp + ndy + T * KN(lines)(wlen)), *dycl = xp + nxp, *part = dycl + ndy;
    int64_t *off = malloc((size_t)d.kvol * sizeof *off);
    if (!xp || !off) { KN(release)(k, xp); free(off); return SSL3D_ERR_NOMEM; }
    KN(tap_offsets)(&d, off);
    const int64_t rows = d.Do * d.Ho, per = (rows + T - 1) / T, nbdy = (d.P + VW - 1) / VW;
    if (per_sample) {   /* whole samples per thread, each into its own partial */
        const ssl3d_kctx one = { 1, k->backend_state };
        #pragma omp parallel num_threads(T)
        {   /* thread tid takes samples n*tid/T .. n*(tid+1)/T - 1; the first one stores */
            const int64_t tid = omp_get_thread_num(), s0 = g->n * tid / T, s1 = g->n * (tid + 1) / T;
            float *xpt = xp + tid * xpn, *dyt = dycl + tid * d.P * CP;
            if (s0 >= s1) memset(part + tid * wlen, 0, (size_t)wlen * sizeof *part);
            for (int64_t ni = s0; ni < s1; ni++) {
                KN(pad_channels_last)(&one, &d, x + ni * d.cin * inv, xpt);
                KN(dy_channels_last)(&one, &d, dy + ni * d.cout * d.P, dyt);
                KN(wgrad_task)(&d, xpt, dyt, off, 0, rows, 0, un.n, ni == s0, part + tid * wlen);
            }
        }
    } else {   /* per sample: the copies by all threads, then one range of rows per thread */
        #pragma omp parallel num_threads(T)
        {
            const int64_t tid = omp_get_thread_num(), nt = omp_get_num_threads();
            for (int64_t ni = 0; ni < g->n; ni++) {
                if (ni > 0) {
                    #pragma omp barrier
                }   /* every thread is done with the previous sample's copies */
                #pragma omp for schedule(static)
                for (int64_t t = 0; t < d.Dp + nbdy; t++) {
                    if (t < d.Dp) KN(pad_plane)(&d, x + ni * d.cin * inv, t, xp);
                    else KN(dy_block)(&d, dy + ni * d.cout * d.P, t - d.Dp, dycl);
                }
                for (int64_t s = tid; s < T; s += nt)   /* a smaller team: a thread takes several ranges */
                    KN(wgrad_task)(&d, xp, dycl, off, s * per, KN(min64)(s * per + per, rows), 0, un.n, ni == 0,
                                   part + s * wlen);
            }
        }
    }
    /* dw (Cout, Cin, kvol) += the partials summed in thread order, in one pass that reads
     * them in packed order (NB contiguous floats per tap) and writes along the taps. A
     * separate summing pass cost a write and a read of the packed weights (1.8 MB for
     * 128 -> 128 channels, where the 2-thread step is 4 ms). */
    const int64_t kv = d.kvol, cn = d.cin;
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t bc = 0; bc < d.cb * cn; bc++) {   /* the inverse of pack_weights' tiles */
        const int64_t cb = bc / cn, ci = bc % cn, nco = KN(min64)(NB, d.cout - cb * NB);
        for (int64_t t = 0; t < kv; t++) {
            const float *src = part + ((cb * kv + t) * cn + ci) * NB;
            float sum[NB];
            for (int64_t j = 0; j < NB; j++) sum[j] = src[j];
            for (int32_t th = 1; th < T; th++)
                for (int64_t j = 0; j < NB; j++) sum[j] += src[(int64_t)th * wlen + j];
            for (int64_t j = 0; j < nco; j++) dw[((cb * NB + j) * cn + ci) * kv + t] += sum[j];
        }
    }
    KN(release)(k, xp); free(off);
    return SSL3D_OK;
}

/* ---- weight gradient for few input channels (the first layer, Cin = 1..3), stride 1
 * along W: vectorise along W instead of channels. The input is zero-padded in NCDHW
 * order, xq (N, Cin, Dp, Hp, Wp), plus a slack of VW + 2 floats so that full-width loads
 * near the end of the last row stay inside the buffer. */

static float *KN(pad_ncdhw)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const dgeom *d, const float *x) {
    const int64_t pd = g->pad[0], ph = g->pad[1], pw = g->pad[2];
    const int64_t plane = d->Hp * d->Wp, vol = d->Dp * plane;
    float *xq = KN(scratch)(k, d->n * d->cin * vol + VW + 2);
    if (!xq) return NULL;
    memset(xq + d->n * d->cin * vol, 0, (VW + 2) * sizeof *xq);
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t t = 0; t < d->n * d->cin * d->Dp; t++) {
        const int64_t nc = t / d->Dp, dp = t % d->Dp, id = dp - pd;
        float *o = xq + nc * vol + dp * plane;
        if (id < 0 || id >= d->D) { memset(o, 0, (size_t)plane * sizeof *o); continue; }
        for (int64_t hp = 0; hp < d->Hp; hp++) {
            const int64_t ih = hp - ph;
            float *orow = o + hp * d->Wp;
            if (ih < 0 || ih >= d->H) { memset(orow, 0, (size_t)d->Wp * sizeof *o); continue; }
            memset(orow, 0, (size_t)pw * sizeof *o);
            memcpy(orow + pw, x + (nc * d->D + id) * d->H * d->W + ih * d->W, (size_t)d->W * sizeof *o);
            memset(orow + pw + d->W, 0, (size_t)(d->Wp - pw - d->W) * sizeof *o);
        }
    }
    return xq;
}

static inline float KN(hsum)(vf v) {   /* lanes added in a fixed order */
    float l[VW];
    memcpy(l, &v, sizeof l);
    float s = 0.0f;
    for (int i = 0; i < VW; i++) s += l[i];
    return s;
}

/* Output channels per weight-gradient block of the first layer: WCO x 3 taps vector
 * accumulators, 24 of AVX-512's 32 registers (12 of 16 otherwise). Per VW positions the
 * block loads WCO vectors of dY and 3 of x for 3*WCO multiply-adds: with 4 channels
 * (0.58 loads per FMA) W1a's weight gradient took 3.0 ms with AVX-512, more than the
 * AVX2 kernel's 2.2 ms. */
#define WCO (VW >= 16 ? 8 : VW >= 8 ? 4 : 3)
/* KN_IN_REG(v): keep v in a register, so that a dY vector is loaded once for its 3 FMAs
 * instead of being folded into each of them as a memory operand (KN_AVX_TARGET, above). */
#if KN_AVX_TARGET
#define KN_IN_REG(v) __asm__("" : "+v"(v))
#else
#define KN_IN_REG(v) ((void)0)
#endif

/* dw[co][ci][a,b,c] += sum over positions of dy[co][pos] * xq[ci][pos + tap], and
 * db[co] += sum over positions of dy[co][pos] (db may be NULL): per output plane, blocks
 * of WCO output channels and chunks of rows whose dY (16 KB) stays in L1 while every
 * (ci, a, b) reads it: the kw taps of one (ci, a, b) (kw <= 3 at a time), VW positions
 * per step (each tap swept the whole plane before: 98 KB of dY re-read from L2 per tap row); the last partial step of a row uses zero-filled copies. The sums go into
 * per-thread vector partials, one vector per weight, whose lanes are added once at the end
 * (adding each plane's lanes cost as much as a third of the multiply-adds). The bias sum of a
 * block's channels follows its taps, while that plane of dY is still in L1/L2: summed in
 * its own pass it read all of dY (18.9 MB for W1a) from memory a second time. Per-thread
 * partials (dw then db), summed in thread order: reproducible for a given thread count. */
static ssl3d_status KN(small_backward_weights)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x,
                                               const float *dy, float *dw, float *db) {
    const dgeom d = KN(dgeom_of)(g);
    const int32_t T = k->threads;
    const int64_t wlen = d.cout * d.cin * d.kvol, plen = (wlen + d.cout) * VW;
    float *xq = KN(pad_ncdhw)(k, g, &d, x);
    float *part = KN(scratch0)(k, T * plen);   /* per thread (wlen + Cout) vectors */
    if (!xq || !part) { KN(release)(k, xq); KN(release)(k, part); return SSL3D_ERR_NOMEM; }
    const int64_t vol = d.Dp * d.Hp * d.Wp, ncb = (d.cout + WCO - 1) / WCO, tasks = d.n * d.Do;
    const int64_t tail = d.Wo % VW, plane = d.Ho * d.Wo;
    /* rows per chunk: the block's dY rows of a chunk (16 KB) stay in L1 while all taps read them */
    const int64_t rch = KN(max64)(1, (16 << 10) / (WCO * d.Wo * 4)), wfull = d.Wo - tail;
    #pragma omp parallel for num_threads(T) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        const int64_t ni = t / d.Do, od = t % d.Do;
        float *pt = part + (int64_t)omp_get_thread_num() * plen;
        for (int64_t cb = 0; cb < ncb; cb++) {
            const int64_t co0 = cb * WCO, nco = KN(min64)(WCO, d.cout - co0);
            const float *dyp[WCO];
            for (int j = 0; j < WCO; j++)
                dyp[j] = dy + (ni * d.cout + KN(min64)(co0 + j, d.cout - 1)) * d.P + od * plane;
            for (int64_t oh0 = 0; oh0 < d.Ho; oh0 += rch) {
            const int64_t oh1 = KN(min64)(oh0 + rch, d.Ho), nfull = (oh1 - oh0) * (wfull / VW);
            for (int64_t ci = 0; ci < d.cin; ci++)
            for (int64_t a = 0; a < d.kd; a++)
            for (int64_t bb = 0; bb < d.kh; bb++)
            for (int64_t c0 = 0; c0 < d.kw; c0 += 3) {
                const int64_t nc = KN(min64)(3, d.kw - c0);
                vf s[WCO][3];
                for (int j = 0; j < WCO; j++) for (int c = 0; c < 3; c++) s[j][c] = (vf){ 0 };
                const float *xb = xq + (ni * d.cin + ci) * vol + ((od * d.sd + a) * d.Hp + oh0 * d.sh + bb) * d.Wp + c0;
                {   /* the full vectors of the chunk's rows in one flat loop (a loop per row of
                     * 3 vectors spilled the accumulators at every row) */
                    const float *xr = xb;
                    int64_t ow = 0, q = oh0 * d.Wo;
                    for (int64_t i = 0; i < nfull; i++) {
                        const vf x0 = KN(vload)(xr + ow), x1 = KN(vload)(xr + ow + 1), x2 = KN(vload)(xr + ow + 2);
                        _Pragma("GCC unroll 8") for (int j = 0; j < WCO; j++) {
                            vf g0 = KN(vload)(dyp[j] + q);
                            KN_IN_REG(g0);
                            s[j][0] += g0 * x0; s[j][1] += g0 * x1; s[j][2] += g0 * x2;
                        }
                        ow += VW; q += VW;
                        if (ow == wfull) { ow = 0; xr += d.sh * d.Wp; q += tail; }
                    }
                }
                if (tail)
                    for (int64_t oh = oh0; oh < oh1; oh++) {
                        const float *xr = xb + (oh - oh0) * d.sh * d.Wp + wfull;
                        const int64_t ro = oh * d.Wo + wfull;
                        float xt[3][VW], gt[VW];
                        memset(xt, 0, sizeof xt);
                        for (int c = 0; c < 3; c++) memcpy(xt[c], xr + c, (size_t)tail * sizeof(float));
                        const vf x0 = KN(vload)(xt[0]), x1 = KN(vload)(xt[1]), x2 = KN(vload)(xt[2]);
                        for (int j = 0; j < WCO; j++) {
                            memset(gt, 0, sizeof gt);
                            memcpy(gt, dyp[j] + ro, (size_t)tail * sizeof(float));
                            const vf g0 = KN(vload)(gt);
                            s[j][0] += g0 * x0; s[j][1] += g0 * x1; s[j][2] += g0 * x2;
                        }
                    }
                for (int64_t j = 0; j < nco; j++)
                    for (int64_t c = 0; c < nc; c++) {
                        float *pv = pt + (((co0 + j) * d.cin + ci) * d.kvol + (a * d.kh + bb) * d.kw + c0 + c) * VW;
                        KN(vstore)(pv, KN(vload)(pv) + s[j][c]);
                    }
            }
            if (db)
                for (int64_t j = 0; j < nco; j++) {   /* 4 accumulators: the adds' latency, not loads, bound one chain */
                    const float *r = dyp[j] + oh0 * d.Wo;
                    const int64_t n = (oh1 - oh0) * d.Wo;
                    vf s4[4] = { { 0 }, { 0 }, { 0 }, { 0 } };
                    int64_t p = 0;
                    for (; p + 4 * VW <= n; p += 4 * VW)
                        for (int u = 0; u < 4; u++) s4[u] += KN(vload)(r + p + u * VW);
                    float *pv = pt + (wlen + co0 + j) * VW;
                    for (; p < n; p++) pv[p % VW] += r[p];
                    KN(vstore)(pv, KN(vload)(pv) + ((s4[0] + s4[1]) + (s4[2] + s4[3])));
                }
            }
        }
    }
    /* dw, db += the partials' lanes, in thread order */
    for (int64_t i = 0; i < wlen + d.cout; i++) {
        float *dst = i < wlen ? dw + i : db ? db + (i - wlen) : NULL;
        if (!dst) break;
        float acc = 0.0f;
        for (int32_t th = 0; th < T; th++) acc += KN(hsum)(KN(vload)(part + (int64_t)th * plen + i * VW));
        *dst += acc;
    }
    KN(release)(k, xq); KN(release)(k, part);
    return SSL3D_OK;
}
#undef WCO

/* Forward tile of the first layer: SCO output channels x np <= SNP vectors of VW
 * consecutive positions of one output row, in SCO*SNP vector accumulators (24 of 32
 * registers with AVX-512, 12 of 16 otherwise). Per tap np loads of the padded input row
 * and SCO broadcast weights serve SCO*np FMAs (0.46 loads per FMA; one position vector x
 * 16 channels loaded 17 times per 16 FMAs, and W1a's forward took 2.0 ms with AVX-512). */
#define SCO (VW >= 16 ? 8 : 4)
#define SNP 3
/* KN_STREAM(p, v): store v at p bypassing the caches when p is aligned (y is written once
 * and is larger than L2); KN_STREAM_FENCE() orders those stores. */
#if KN_AVX_TARGET && VW == 16
#define KN_STREAM(p, v) \
    do { if ((uintptr_t)(p) & 63) KN(vstore)(p, v); else _mm512_stream_ps(p, (__m512)(v)); } while (0)
#define KN_STREAM_FENCE() _mm_sfence()
#elif KN_AVX_TARGET
#define KN_STREAM(p, v) \
    do { if ((uintptr_t)(p) & 31) KN(vstore)(p, v); else _mm256_stream_ps(p, (__m256)(v)); } while (0)
#define KN_STREAM_FENCE() _mm_sfence()
#else
#define KN_STREAM(p, v) KN(vstore)(p, v)
#define KN_STREAM_FENCE() ((void)0)
#endif
/* y[co0+j][q .. q+len) (= or +=) the tile + b, j < nco; xr is the padded input at the
 * tile's first position for tap (ci = 0, 0, 0, 0), wt the block's weights (tap, SCO). */
static inline __attribute__((always_inline)) void KN(small_fwd_tile)(const int np, const dgeom *d, const float *xr,
                                                                     int64_t vol, const float *wt, const float *b,
                                                                     int64_t co0, int64_t nco, float *y0, int64_t len,
                                                                     int accumulate) {
    vf acc[SCO][SNP];
    _Pragma("GCC unroll 8") for (int j = 0; j < SCO; j++)
        _Pragma("GCC unroll 3") for (int p = 0; p < SNP; p++) if (p < np) acc[j][p] = (vf){ 0 };
    int64_t tp = 0;
    for (int64_t ci = 0; ci < d->cin; ci++)
    for (int64_t a = 0; a < d->kd; a++)
    for (int64_t bb = 0; bb < d->kh; bb++) {
        const float *xa = xr + ci * vol + (a * d->Hp + bb) * d->Wp;
        for (int64_t c = 0; c < d->kw; c++, tp++) {
            vf xv[SNP];
            _Pragma("GCC unroll 3") for (int p = 0; p < SNP; p++) if (p < np) xv[p] = KN(vload)(xa + c + p * VW);
            const float *wp = wt + tp * SCO;
            _Pragma("GCC unroll 8") for (int j = 0; j < SCO; j++)
                _Pragma("GCC unroll 3") for (int p = 0; p < SNP; p++) if (p < np) acc[j][p] += wp[j] * xv[p];
        }
    }
    for (int64_t j = 0; j < nco; j++) {
        const float bv = b ? b[co0 + j] : 0.0f;
        float *yo = y0 + j * d->P;
        _Pragma("GCC unroll 3") for (int p = 0; p < SNP; p++) {
            if (p >= np) break;
            const int64_t n = KN(min64)(VW, len - p * VW);
            vf v = acc[j][p] + bv;
            if (n == VW && accumulate) {
                KN(vstore)(yo + p * VW, v + KN(vload)(yo + p * VW));
            } else if (n == VW) {
                KN_STREAM(yo + p * VW, v);
            } else {
                float o[VW];
                KN(vstore)(o, v);
                if (accumulate) for (int64_t r = 0; r < n; r++) yo[p * VW + r] += o[r];
                else for (int64_t r = 0; r < n; r++) yo[p * VW + r] = o[r];
            }
        }
    }
}

/* y (= or +=) conv(x, w) + b for few input channels (the first layer), stride 1 along W:
 * vectorised along W like the weight gradient above. Per task (sample, output plane),
 * block of SCO output channels and row, tiles of SNP vectors (small_fwd_tile; the rest of
 * a row in narrower ones); a partial last vector reads past the row into the next row or
 * pad_ncdhw's slack and drops those lanes. Each output is summed over (ci, a, b, c) in that
 * order by one thread, so the result does not depend on the thread count. */
static ssl3d_status KN(small_forward)(const ssl3d_kctx *k, const ssl3d_conv_geom *g, const float *x, const float *w,
                                      const float *b, float *y, int accumulate) {
    const dgeom d = KN(dgeom_of)(g);
    float *xq = KN(pad_ncdhw)(k, g, &d, x);
    if (!xq) return SSL3D_ERR_NOMEM;
    const int64_t vol = d.Dp * d.Hp * d.Wp, taps = d.cin * d.kvol, tasks = d.n * d.Do;
    #pragma omp parallel for num_threads(k->threads) schedule(static)
    for (int64_t t = 0; t < tasks; t++) {
        const int64_t ni = t / d.Do, od = t % d.Do;
        for (int64_t co0 = 0; co0 < d.cout; co0 += SCO) {
            const int64_t nco = KN(min64)(SCO, d.cout - co0);
            float wt[27 * 4 * SCO];   /* (tap, co) for this block; taps <= 27*4 checked by the caller */
            for (int64_t tp = 0; tp < taps; tp++)
                for (int64_t j = 0; j < SCO; j++)
                    wt[tp * SCO + j] = j < nco ? w[(co0 + j) * taps + tp] : 0.0f;
            for (int64_t oh = 0; oh < d.Ho; oh++) {
                const int64_t ro = (od * d.Ho + oh) * d.Wo;
                const float *xrow = xq + ni * d.cin * vol + ((od * d.sd) * d.Hp + oh * d.sh) * d.Wp;
                float *yrow = y + (ni * d.cout + co0) * d.P + ro;
                for (int64_t ow = 0; ow < d.Wo;) {
                    const int64_t np = KN(min64)(SNP, (d.Wo - ow + VW - 1) / VW);
                    const int64_t len = KN(min64)(np * VW, d.Wo - ow);
                    if (np == 3) KN(small_fwd_tile)(3, &d, xrow + ow, vol, wt, b, co0, nco, yrow + ow, len, accumulate);
                    else if (np == 2) KN(small_fwd_tile)(2, &d, xrow + ow, vol, wt, b, co0, nco, yrow + ow, len, accumulate);
                    else KN(small_fwd_tile)(1, &d, xrow + ow, vol, wt, b, co0, nco, yrow + ow, len, accumulate);
                    ow += len;
                }
            }
        }
        KN_STREAM_FENCE();
    }
    KN(release)(k, xq);
    return SSL3D_OK;
}
#undef SCO
#undef SNP

const cpu_conv_isa KN(cpu_conv_isa) = {
    .name = ISA_NAME,
    .kernels = ISA_KERNELS,
    .block = NB,
    .narrow = ISA_NARROW,
    .direct_forward = KN(forward),
    .direct_backward_input = KN(backward_input),
    .direct_backward_weights = KN(backward_weights),
    .small_backward_weights = KN(small_backward_weights),
    .small_forward = KN(small_forward),
};
#undef vf
#undef dgeom
#undef NB
#undef NV
