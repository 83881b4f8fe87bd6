/* oneDNN measured directly on the W1 layers of `ssl3d bench` (issue 10: which convolution
 * library, with numbers). A measuring tool, never part of the library or its default build:
 *   make onednn-bench      (installs libdnnl-dev if missing, builds and runs bin/onednn_w1)
 *   cc -O2 -std=c11 -o /tmp/onednn_w1 docs/bench/onednn_w1.c -ldnnl -fopenmp -lm   (the same)
 *   OMP_WAIT_POLICY=passive bin/onednn_w1 7 1                 (repeat, threads)
 *   ONEDNN_MAX_CPU_ISA=AVX2 caps oneDNN's JIT at AVX2 (as for PyTorch in w1_cputime.py);
 *   W1_ONLY=W1c,W1d picks layers (as in w1_cputime.c/.py), ONEDNN_LAYOUTS=blocked,plain,native
 *   picks layouts (all three by default).
 * One step is what w1_cputime.c (ours) and w1_cputime.py (PyTorch 1.13, whose CPU convolutions
 * are this same Debian libdnnl.so.2, 2.6.3) time: y = conv(x, w, b) (3x3x3, stride 1,
 * padding 1, f32, batch 2), the input gradient dx from dy = g (skipped for W1a, whose input
 * needs no gradient, as there) and the weight and bias gradients. Layouts:
 *   blocked  oneDNN picks each tensor's layout (format_tag any). x, w, b and g are held in
 *            the forward's layouts, converted from plain before the timed steps, and the
 *            gradients in their tensors' layouts; a reorder a backward pass needs because it
 *            prefers another layout than the one held (e.g. the weights for the data
 *            gradient) is in the step, as a framework holding its tensors in oneDNN's
 *            layouts would pay it.
 *   plain    the tensors are ncdhw / oidhw; the primitives still pick their own layouts and
 *            the reorders to and from them are in the step (a plain-layout library calling
 *            oneDNN per op pays them).
 *   native   the primitives are created on ncdhw / oidhw themselves (oneDNN's plain-layout
 *            implementations, no reorders).
 * The OpenMP thread count is set here with omp_set_num_threads (a standalone tool; oneDNN
 * reads it when the primitives are created and run). Per layer and layout it prints median
 * (min, max) process CPU time and wall time per step after a warm-up (until the page faults
 * of a step settle, as `ssl3d bench`), GFLOP/s (2 flops per multiply-add, forward + the
 * gradients, bias terms not counted, as w1_cputime.c/.py), per-pass CPU times, the
 * implementations and layouts oneDNN chose, the number of reorders in the step, and a spot
 * check of y, dx, dw and db against a double-precision reference (exit status 1 when it
 * fails, so the timings are of convolutions that compute the right thing). */
#define _DEFAULT_SOURCE
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#define CHK(call)                                                                              \
    do {                                                                                       \
        const dnnl_status_t st_ = (call);                                                      \
        if (st_ != dnnl_success) {                                                             \
            fprintf(stderr, "onednn_w1: %s failed: %s (line %d)\n", #call, dnnl_status2str(st_), \
                    __LINE__);                                                                 \
            exit(1);                                                                           \
        }                                                                                      \
    } while (0)

enum { PASS_FWD, PASS_BWD_DATA, PASS_BWD_WEIGHTS, NPASS };
enum { LAYOUT_BLOCKED, LAYOUT_PLAIN, LAYOUT_NATIVE, NLAYOUT };
static const char *const layout_name[NLAYOUT] = { "blocked", "plain", "native" };
enum { MAX_ACTIONS = 32, MAX_ARGS = 8, MAX_COPIES = 4, MAX_REPEAT = 64, NCHECK = 16 };

typedef struct { const char *name; int64_t ci, co, d, h, w; } layer;

static dnnl_engine_t eng;
static dnnl_stream_t strm;

static double clock_ms(clockid_t c) {
    struct timespec t;
    clock_gettime(c, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static long minor_faults(void) {
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {   /* sorts v */
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static const dnnl_memory_desc_t *md_of(dnnl_memory_t m) {
    const dnnl_memory_desc_t *md;
    CHK(dnnl_memory_get_memory_desc(m, &md));
    return md;
}

static dnnl_memory_t new_mem(const dnnl_memory_desc_t *md) {
    dnnl_memory_t m;
    CHK(dnnl_memory_create(&m, md, eng, DNNL_MEMORY_ALLOCATE));
    return m;
}

static float *data_of(dnnl_memory_t m) {
    void *p;
    CHK(dnnl_memory_get_data_handle(m, &p));
    return p;
}

static dnnl_primitive_t new_reorder(dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_primitive_desc_t pd;
    dnnl_primitive_t p;
    CHK(dnnl_reorder_primitive_desc_create(&pd, md_of(from), eng, md_of(to), eng, NULL));
    CHK(dnnl_primitive_create(&p, pd));
    CHK(dnnl_primitive_desc_destroy(pd));
    return p;
}

/* Outside the timed steps: from -> to once. */
static void reorder_now(dnnl_memory_t from, dnnl_memory_t to) {
    dnnl_primitive_t p = new_reorder(from, to);
    const dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, from }, { DNNL_ARG_TO, to } };
    CHK(dnnl_primitive_execute(p, strm, 2, args));
    CHK(dnnl_stream_wait(strm));
    CHK(dnnl_primitive_destroy(p));
}

/* A layout as oneDNN names its format tags: dimensions a, b, ... from the outermost stride
 * in, capitals for blocked dimensions, then the inner blocks (aBcde16b = nCdhw16c). */
static const char *layout_str(const dnnl_memory_desc_t *md, char *buf, size_t len) {
    if (md->format_kind != dnnl_blocked) return snprintf(buf, len, "format kind %d", (int)md->format_kind), buf;
    const dnnl_blocking_desc_t *bd = &md->format_desc.blocking;
    int order[DNNL_MAX_NDIMS], used[DNNL_MAX_NDIMS] = { 0 }, blocked[DNNL_MAX_NDIMS] = { 0 };
    for (int i = 0; i < bd->inner_nblks; i++) blocked[bd->inner_idxs[i]] = 1;
    for (int k = 0; k < md->ndims; k++) {   /* largest stride first, ties in dimension order */
        int best = -1;
        for (int i = 0; i < md->ndims; i++)
            if (!used[i] && (best < 0 || bd->strides[i] > bd->strides[best])) best = i;
        used[best] = 1;
        order[k] = best;
    }
    size_t o = 0;
    for (int k = 0; k < md->ndims && o + 1 < len; k++) buf[o++] = (char)((blocked[order[k]] ? 'A' : 'a') + order[k]);
    buf[o] = 0;
    for (int i = 0; i < bd->inner_nblks && o < len; i++)
        o += (size_t)snprintf(buf + o, len - o, "%lld%c", (long long)bd->inner_blks[i], 'a' + (int)bd->inner_idxs[i]);
    return buf;
}

/* ---- the step: primitives and reorders run in order, each counted to its pass ---- */
typedef struct {
    dnnl_primitive_t prim;
    int pass, is_reorder, nargs;
    dnnl_exec_arg_t args[MAX_ARGS];
} action;
typedef struct { action a[MAX_ACTIONS]; int n; } step;

static void add_action(step *s, dnnl_primitive_t p, int pass, int is_reorder, int nargs, const dnnl_exec_arg_t *args) {
    if (s->n == MAX_ACTIONS) { fprintf(stderr, "onednn_w1: too many actions in a step\n"); exit(1); }
    action *a = &s->a[s->n++];
    a->prim = p;
    a->pass = pass;
    a->is_reorder = is_reorder;
    a->nargs = nargs;
    memcpy(a->args, args, (size_t)nargs * sizeof *args);
}

/* A tensor as the caller holds it, and copies of it in the layouts the primitives want. */
typedef struct { dnnl_memory_t held, copy[MAX_COPIES]; int ncopies; } tensor;

static dnnl_memory_t find_copy(tensor *t, const dnnl_memory_desc_t *md, int *is_new) {
    *is_new = 0;
    if (dnnl_memory_desc_equal(md, md_of(t->held))) return t->held;
    for (int i = 0; i < t->ncopies; i++)
        if (dnnl_memory_desc_equal(md, md_of(t->copy[i]))) return t->copy[i];
    if (t->ncopies == MAX_COPIES) { fprintf(stderr, "onednn_w1: too many copies of a tensor\n"); exit(1); }
    *is_new = 1;
    return t->copy[t->ncopies++] = new_mem(md);
}

/* The memory a pass reads t from in layout md: t itself, or a copy reordered from it in the
 * step just before the first pass that reads t in that layout (the inputs do not change
 * during a step, so later passes reuse the copy). */
static dnnl_memory_t input_in(step *s, tensor *t, const dnnl_memory_desc_t *md, int pass) {
    int is_new;
    dnnl_memory_t m = find_copy(t, md, &is_new);
    if (is_new) {
        const dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, t->held }, { DNNL_ARG_TO, m } };
        add_action(s, new_reorder(t->held, m), pass, 1, 2, args);
    }
    return m;
}

/* The memory a pass writes t into in layout md; output_back() then adds the reorder into t
 * when that is not t itself. */
static dnnl_memory_t output_in(tensor *t, const dnnl_memory_desc_t *md) {
    int is_new;
    return find_copy(t, md, &is_new);
}

static void output_back(step *s, tensor *t, dnnl_memory_t m, int pass) {
    if (m == t->held) return;
    const dnnl_exec_arg_t args[2] = { { DNNL_ARG_FROM, m }, { DNNL_ARG_TO, t->held } };
    add_action(s, new_reorder(m, t->held), pass, 1, 2, args);
}

static void tensor_free(tensor *t) {
    if (t->held) CHK(dnnl_memory_destroy(t->held));
    for (int i = 0; i < t->ncopies; i++) CHK(dnnl_memory_destroy(t->copy[i]));
    memset(t, 0, sizeof *t);
}

/* ---- the double-precision reference, on plain ncdhw / oidhw data ---- */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rng_next(void) {   /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Dull;
}
static float rng_uniform(void) { return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 2.0 - 1.0); }

static void fill(dnnl_memory_t m, float scale) {
    float *p = data_of(m);
    const size_t n = dnnl_memory_desc_get_size(md_of(m)) / sizeof(float);
    for (size_t i = 0; i < n; i++) p[i] = scale * rng_uniform();
}

typedef struct { const layer *L; const float *x, *w, *b, *g; } ref_in;

/* y[n,o,p] = b[o] + sum_{i,k} x[n,i,p+k-1] w[o,i,k]; *sabs gets the sum of the terms' sizes. */
static double ref_y(const ref_in *r, int64_t idx, double *sabs) {
    const layer *L = r->L;
    const int64_t wq = idx % L->w, hq = idx / L->w % L->h, dq = idx / (L->w * L->h) % L->d;
    const int64_t o = idx / (L->w * L->h * L->d) % L->co, n = idx / (L->w * L->h * L->d * L->co);
    double s = r->b[o];
    *sabs = fabs(s);
    for (int64_t i = 0; i < L->ci; i++)
        for (int kd = 0; kd < 3; kd++)
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++) {
                    const int64_t d = dq + kd - 1, h = hq + kh - 1, w = wq + kw - 1;
                    if (d < 0 || d >= L->d || h < 0 || h >= L->h || w < 0 || w >= L->w) continue;
                    const double t = (double)r->x[(((n * L->ci + i) * L->d + d) * L->h + h) * L->w + w] *
                                     r->w[(((o * L->ci + i) * 3 + kd) * 3 + kh) * 3 + kw];
                    s += t;
                    *sabs += fabs(t);
                }
    return s;
}

/* dx[n,i,q] = sum_{o,k} g[n,o,q-k+1] w[o,i,k] */
static double ref_dx(const ref_in *r, int64_t idx, double *sabs) {
    const layer *L = r->L;
    const int64_t wq = idx % L->w, hq = idx / L->w % L->h, dq = idx / (L->w * L->h) % L->d;
    const int64_t i = idx / (L->w * L->h * L->d) % L->ci, n = idx / (L->w * L->h * L->d * L->ci);
    double s = 0;
    *sabs = 0;
    for (int64_t o = 0; o < L->co; o++)
        for (int kd = 0; kd < 3; kd++)
            for (int kh = 0; kh < 3; kh++)
                for (int kw = 0; kw < 3; kw++) {
                    const int64_t d = dq - kd + 1, h = hq - kh + 1, w = wq - kw + 1;
                    if (d < 0 || d >= L->d || h < 0 || h >= L->h || w < 0 || w >= L->w) continue;
                    const double t = (double)r->g[(((n * L->co + o) * L->d + d) * L->h + h) * L->w + w] *
                                     r->w[(((o * L->ci + i) * 3 + kd) * 3 + kh) * 3 + kw];
                    s += t;
                    *sabs += fabs(t);
                }
    return s;
}

/* dw[o,i,k] = sum_{n,p} g[n,o,p] x[n,i,p+k-1] */
static double ref_dw(const ref_in *r, int64_t idx, double *sabs) {
    const layer *L = r->L;
    const int kw = (int)(idx % 3), kh = (int)(idx / 3 % 3), kd = (int)(idx / 9 % 3);
    const int64_t i = idx / 27 % L->ci, o = idx / (27 * L->ci);
    double s = 0;
    *sabs = 0;
    for (int64_t n = 0; n < 2; n++)
        for (int64_t d = 0; d < L->d; d++)
            for (int64_t h = 0; h < L->h; h++)
                for (int64_t w = 0; w < L->w; w++) {
                    const int64_t xd = d + kd - 1, xh = h + kh - 1, xw = w + kw - 1;
                    if (xd < 0 || xd >= L->d || xh < 0 || xh >= L->h || xw < 0 || xw >= L->w) continue;
                    const double t = (double)r->g[(((n * L->co + o) * L->d + d) * L->h + h) * L->w + w] *
                                     r->x[(((n * L->ci + i) * L->d + xd) * L->h + xh) * L->w + xw];
                    s += t;
                    *sabs += fabs(t);
                }
    return s;
}

/* db[o] = sum_{n,p} g[n,o,p] */
static double ref_db(const ref_in *r, int64_t o, double *sabs) {
    const layer *L = r->L;
    const int64_t vox = L->d * L->h * L->w;
    double s = 0;
    *sabs = 0;
    for (int64_t n = 0; n < 2; n++)
        for (int64_t p = 0; p < vox; p++) {
            const double t = r->g[(n * L->co + o) * vox + p];
            s += t;
            *sabs += fabs(t);
        }
    return s;
}

/* Largest |got - ref| / (1 + sum of the terms' sizes) over NCHECK sampled elements. */
static double check(const ref_in *r, double (*ref)(const ref_in *, int64_t, double *), const float *got, int64_t n) {
    double worst = 0;
    for (int k = 0; k < NCHECK; k++) {
        const int64_t idx = k == 0 ? 0 : k == 1 ? n - 1 : (int64_t)(rng_next() % (uint64_t)n);
        double sabs;
        const double e = fabs(got[idx] - ref(r, idx, &sabs)) / (1.0 + sabs);
        if (e > worst) worst = e;
    }
    return worst;
}

static const char *impl_of(dnnl_primitive_desc_t pd) {
    const char *s = "?";
    CHK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s));
    return s;
}

/* ---- one layer in one layout ---- */
static int run_layer(const layer *L, int layout, int repeat, int threads) {
    const int with_dx = L->ci > 1;
    const dnnl_dims_t xd = { 2, L->ci, L->d, L->h, L->w }, wd = { L->co, L->ci, 3, 3, 3 }, bd = { L->co },
                      yd = { 2, L->co, L->d, L->h, L->w }, one = { 1, 1, 1 };
    dnnl_memory_desc_t x_plain, w_plain, b_plain, y_plain, x_any, w_any, b_any, y_any;
    CHK(dnnl_memory_desc_init_by_tag(&x_plain, 5, xd, dnnl_f32, dnnl_ncdhw));
    CHK(dnnl_memory_desc_init_by_tag(&w_plain, 5, wd, dnnl_f32, dnnl_oidhw));
    CHK(dnnl_memory_desc_init_by_tag(&b_plain, 1, bd, dnnl_f32, dnnl_x));
    CHK(dnnl_memory_desc_init_by_tag(&y_plain, 5, yd, dnnl_f32, dnnl_ncdhw));
    if (layout == LAYOUT_NATIVE) {
        x_any = x_plain;
        w_any = w_plain;
        b_any = b_plain;
        y_any = y_plain;
    } else {   /* the primitives pick */
        CHK(dnnl_memory_desc_init_by_tag(&x_any, 5, xd, dnnl_f32, dnnl_format_tag_any));
        CHK(dnnl_memory_desc_init_by_tag(&w_any, 5, wd, dnnl_f32, dnnl_format_tag_any));
        CHK(dnnl_memory_desc_init_by_tag(&b_any, 1, bd, dnnl_f32, dnnl_format_tag_any));
        CHK(dnnl_memory_desc_init_by_tag(&y_any, 5, yd, dnnl_f32, dnnl_format_tag_any));
    }

    /* The three primitives; the backward ones with the forward as their hint. */
    dnnl_convolution_desc_t cd;
    dnnl_primitive_desc_t pd[NPASS] = { NULL, NULL, NULL };
    CHK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_training, dnnl_convolution_direct, &x_any, &w_any,
                                           &b_any, &y_any, one, one, one));
    CHK(dnnl_primitive_desc_create(&pd[PASS_FWD], &cd, NULL, eng, NULL));
    if (with_dx) {
        CHK(dnnl_convolution_backward_data_desc_init(&cd, dnnl_convolution_direct, &x_any, &w_any, &y_any, one, one, one));
        CHK(dnnl_primitive_desc_create(&pd[PASS_BWD_DATA], &cd, NULL, eng, pd[PASS_FWD]));
    }
    CHK(dnnl_convolution_backward_weights_desc_init(&cd, dnnl_convolution_direct, &x_any, &w_any, &b_any, &y_any,
                                                    one, one, one));
    CHK(dnnl_primitive_desc_create(&pd[PASS_BWD_WEIGHTS], &cd, NULL, eng, pd[PASS_FWD]));
    dnnl_primitive_t prim[NPASS] = { NULL, NULL, NULL };
    for (int p = 0; p < NPASS; p++)
        if (pd[p]) CHK(dnnl_primitive_create(&prim[p], pd[p]));
#define MD(p, q, i) dnnl_primitive_desc_query_md(pd[p], q, i)

    /* The caller's tensors: blocked holds x, w, b, g (= dy) and y in the forward's layouts and
     * each gradient in its tensor's; plain and native hold everything plain. */
    const int blocked = layout == LAYOUT_BLOCKED;
    tensor x = { 0 }, w = { 0 }, b = { 0 }, g = { 0 }, y = { 0 }, dx = { 0 }, dw = { 0 }, db = { 0 };
    x.held = new_mem(blocked ? MD(PASS_FWD, dnnl_query_src_md, 0) : &x_plain);
    w.held = new_mem(blocked ? MD(PASS_FWD, dnnl_query_weights_md, 0) : &w_plain);
    b.held = new_mem(blocked ? MD(PASS_FWD, dnnl_query_weights_md, 1) : &b_plain);
    g.held = new_mem(blocked ? MD(PASS_FWD, dnnl_query_dst_md, 0) : &y_plain);
    y.held = new_mem(md_of(g.held));
    if (with_dx) dx.held = new_mem(md_of(x.held));
    dw.held = new_mem(md_of(w.held));
    db.held = new_mem(md_of(b.held));

    /* Random plain data, converted into the held layouts outside the timed steps. */
    dnnl_memory_t xp = new_mem(&x_plain), wp = new_mem(&w_plain), bp = new_mem(&b_plain), gp = new_mem(&y_plain);
    fill(xp, 1.0f);
    fill(wp, 0.05f);
    fill(bp, 0.05f);
    fill(gp, 1.0f);
    reorder_now(xp, x.held);
    reorder_now(wp, w.held);
    reorder_now(bp, b.held);
    reorder_now(gp, g.held);

    step s = { .n = 0 };
    {   /* forward */
        const dnnl_exec_arg_t a[4] = {
            { DNNL_ARG_SRC, input_in(&s, &x, MD(PASS_FWD, dnnl_query_src_md, 0), PASS_FWD) },
            { DNNL_ARG_WEIGHTS, input_in(&s, &w, MD(PASS_FWD, dnnl_query_weights_md, 0), PASS_FWD) },
            { DNNL_ARG_BIAS, input_in(&s, &b, MD(PASS_FWD, dnnl_query_weights_md, 1), PASS_FWD) },
            { DNNL_ARG_DST, output_in(&y, MD(PASS_FWD, dnnl_query_dst_md, 0)) },
        };
        add_action(&s, prim[PASS_FWD], PASS_FWD, 0, 4, a);
        output_back(&s, &y, a[3].memory, PASS_FWD);
    }
    if (with_dx) {   /* input gradient */
        const dnnl_exec_arg_t a[3] = {
            { DNNL_ARG_DIFF_DST, input_in(&s, &g, MD(PASS_BWD_DATA, dnnl_query_diff_dst_md, 0), PASS_BWD_DATA) },
            { DNNL_ARG_WEIGHTS, input_in(&s, &w, MD(PASS_BWD_DATA, dnnl_query_weights_md, 0), PASS_BWD_DATA) },
            { DNNL_ARG_DIFF_SRC, output_in(&dx, MD(PASS_BWD_DATA, dnnl_query_diff_src_md, 0)) },
        };
        add_action(&s, prim[PASS_BWD_DATA], PASS_BWD_DATA, 0, 3, a);
        output_back(&s, &dx, a[2].memory, PASS_BWD_DATA);
    }
    {   /* weight and bias gradients */
        const dnnl_exec_arg_t a[4] = {
            { DNNL_ARG_SRC, input_in(&s, &x, MD(PASS_BWD_WEIGHTS, dnnl_query_src_md, 0), PASS_BWD_WEIGHTS) },
            { DNNL_ARG_DIFF_DST, input_in(&s, &g, MD(PASS_BWD_WEIGHTS, dnnl_query_diff_dst_md, 0), PASS_BWD_WEIGHTS) },
            { DNNL_ARG_DIFF_WEIGHTS, output_in(&dw, MD(PASS_BWD_WEIGHTS, dnnl_query_diff_weights_md, 0)) },
            { DNNL_ARG_DIFF_BIAS, output_in(&db, MD(PASS_BWD_WEIGHTS, dnnl_query_diff_weights_md, 1)) },
        };
        add_action(&s, prim[PASS_BWD_WEIGHTS], PASS_BWD_WEIGHTS, 0, 4, a);
        output_back(&s, &dw, a[2].memory, PASS_BWD_WEIGHTS);
        output_back(&s, &db, a[3].memory, PASS_BWD_WEIGHTS);
    }
    int nreorders = 0;
    for (int i = 0; i < s.n; i++) nreorders += s.a[i].is_reorder;

    /* Warm-up until a step's page faults settle (at least 2 steps, at most 10), then the timed steps. */
    double cpu[MAX_REPEAT], wall[MAX_REPEAT], pass_cpu[NPASS][MAX_REPEAT];
    long prev_faults = -1, faults = 0;
    int warm = 0, warmed = 0, timed = 0;
    while (timed < repeat) {
        const long f0 = minor_faults();
        const double c0 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = clock_ms(CLOCK_MONOTONIC);
        double pc[NPASS] = { 0, 0, 0 };
        for (int i = 0; i < s.n; i++) {
            const double t = clock_ms(CLOCK_PROCESS_CPUTIME_ID);
            CHK(dnnl_primitive_execute(s.a[i].prim, strm, s.a[i].nargs, s.a[i].args));
            CHK(dnnl_stream_wait(strm));
            pc[s.a[i].pass] += clock_ms(CLOCK_PROCESS_CPUTIME_ID) - t;
        }
        const double c1 = clock_ms(CLOCK_PROCESS_CPUTIME_ID), w1 = clock_ms(CLOCK_MONOTONIC);
        if (!warmed) {   /* a warm-up step, the one that shows the faults settled included */
            faults = minor_faults() - f0;
            warm++;
            warmed = warm >= 10 || (warm >= 2 && (faults < 64 || (prev_faults >= 0 && faults >= prev_faults)));
            prev_faults = faults;
            continue;
        }
        cpu[timed] = c1 - c0, wall[timed] = w1 - w0;
        for (int p = 0; p < NPASS; p++) pass_cpu[p][timed] = pc[p];
        timed++;
    }

    /* Results into plain layouts, checked against the reference. */
    dnnl_memory_t yp = new_mem(&y_plain), dwp = new_mem(&w_plain), dbp = new_mem(&b_plain), dxp = NULL;
    reorder_now(y.held, yp);
    reorder_now(dw.held, dwp);
    reorder_now(db.held, dbp);
    const ref_in r = { L, data_of(xp), data_of(wp), data_of(bp), data_of(gp) };
    const int64_t nx = 2 * L->ci * L->d * L->h * L->w, ny = 2 * L->co * L->d * L->h * L->w;
    double err = check(&r, ref_y, data_of(yp), ny);
    err = fmax(err, check(&r, ref_dw, data_of(dwp), L->co * L->ci * 27));
    err = fmax(err, check(&r, ref_db, data_of(dbp), L->co));
    if (with_dx) {
        dxp = new_mem(&x_plain);
        reorder_now(dx.held, dxp);
        err = fmax(err, check(&r, ref_dx, data_of(dxp), nx));
    }

    const double gflop = (with_dx ? 3 : 2) * 2.0 * 2 * (double)(L->d * L->h * L->w) * (double)(L->ci * L->co) * 27 / 1e9;
    const double cmed = median(cpu, repeat), cmin = cpu[0], cmax = cpu[repeat - 1];
    const double wmed = median(wall, repeat), wmin = wall[0], wmax = wall[repeat - 1];
    printf("%s onednn-%s cpu-ms %.2f (min %.2f, max %.2f) %.1f GFLOP/s per CPU-second; wall-ms %.2f (min %.2f, "
           "max %.2f) %.1f GFLOP/s; %d threads\n",
           L->name, layout_name[layout], cmed, cmin, cmax, gflop / (cmed / 1e3), wmed, wmin, wmax,
           gflop / (wmed / 1e3), threads);
    printf("    passes cpu-ms fwd %.2f, bwd-data %.2f, bwd-weights+bias %.2f (medians, each with its reorders); "
           "%d reorders in the step; %d warm-up steps, %ld page faults in the last\n",
           median(pass_cpu[PASS_FWD], repeat), with_dx ? median(pass_cpu[PASS_BWD_DATA], repeat) : 0.0,
           median(pass_cpu[PASS_BWD_WEIGHTS], repeat), nreorders, warm, faults);
    char l1[64], l2[64], l3[64];
    printf("    fwd %s (x %s, w %s, y %s)", impl_of(pd[PASS_FWD]), layout_str(MD(PASS_FWD, dnnl_query_src_md, 0), l1, sizeof l1),
           layout_str(MD(PASS_FWD, dnnl_query_weights_md, 0), l2, sizeof l2),
           layout_str(MD(PASS_FWD, dnnl_query_dst_md, 0), l3, sizeof l3));
    if (with_dx)
        printf("; bwd-data %s (dy %s, w %s, dx %s)", impl_of(pd[PASS_BWD_DATA]),
               layout_str(MD(PASS_BWD_DATA, dnnl_query_diff_dst_md, 0), l1, sizeof l1),
               layout_str(MD(PASS_BWD_DATA, dnnl_query_weights_md, 0), l2, sizeof l2),
               layout_str(MD(PASS_BWD_DATA, dnnl_query_diff_src_md, 0), l3, sizeof l3));
    printf("; bwd-weights %s (x %s, dy %s, dw %s)\n", impl_of(pd[PASS_BWD_WEIGHTS]),
           layout_str(MD(PASS_BWD_WEIGHTS, dnnl_query_src_md, 0), l1, sizeof l1),
           layout_str(MD(PASS_BWD_WEIGHTS, dnnl_query_diff_dst_md, 0), l2, sizeof l2),
           layout_str(MD(PASS_BWD_WEIGHTS, dnnl_query_diff_weights_md, 0), l3, sizeof l3));
    const int ok = err < 1e-4;   /* f32 sums: ~1e-7; one tap missing: ~1e-2 */
    printf("    check %s: largest |error| / (1 + sum of |terms|) %.1e over %d sampled values each of y,%s dw, db\n",
           ok ? "ok" : "FAILED", err, NCHECK, with_dx ? " dx," : "");
#undef MD

    for (int i = 0; i < s.n; i++)
        if (s.a[i].is_reorder) CHK(dnnl_primitive_destroy(s.a[i].prim));
    for (int p = 0; p < NPASS; p++) {
        if (prim[p]) CHK(dnnl_primitive_destroy(prim[p]));
        if (pd[p]) CHK(dnnl_primitive_desc_destroy(pd[p]));
    }
    tensor *all[] = { &x, &w, &b, &g, &y, &dx, &dw, &db };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) tensor_free(all[i]);
    dnnl_memory_t plain[] = { xp, wp, bp, gp, yp, dwp, dbp, dxp };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        if (plain[i]) CHK(dnnl_memory_destroy(plain[i]));
    return ok ? 0 : 1;
}

static const char *isa_name(dnnl_cpu_isa_t isa) {
    switch (isa) {
    case dnnl_cpu_isa_all: return "all";
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    }
    return "other";
}

int main(int argc, char **argv) {
    const int repeat = argc > 1 ? atoi(argv[1]) : 7, threads = argc > 2 ? atoi(argv[2]) : 1;
    if (repeat < 1 || repeat > MAX_REPEAT || threads < 1 || threads > 256) {
        fprintf(stderr, "usage: onednn_w1 [repeat 1..%d, default 7] [threads, default 1]\n", MAX_REPEAT);
        return 2;
    }
    static const layer wl[] = {
        { "W1a", 1, 16, 48, 64, 48 }, { "W1b", 16, 16, 48, 64, 48 }, { "W1c", 32, 32, 24, 32, 24 },
        { "W1d", 64, 64, 12, 16, 12 }, { "W1e", 128, 128, 6, 8, 6 },
    };
    omp_set_num_threads(threads);
    CHK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    CHK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    const dnnl_version_t *v = dnnl_version();
    const char *only = getenv("W1_ONLY"), *layouts = getenv("ONEDNN_LAYOUTS"), *cap = getenv("ONEDNN_MAX_CPU_ISA"),
               *wait = getenv("OMP_WAIT_POLICY");
    printf("# oneDNN %d.%d.%d, effective ISA %s (ONEDNN_MAX_CPU_ISA %s), %d OpenMP threads (OMP_WAIT_POLICY %s), "
           "medians of %d steps\n", v->major, v->minor, v->patch, isa_name(dnnl_get_effective_cpu_isa()),
           cap ? cap : "unset", omp_get_max_threads(), wait ? wait : "unset", repeat);
    int rc = 0;
    for (size_t i = 0; i < sizeof wl / sizeof wl[0]; i++) {
        if (only && !strstr(only, wl[i].name)) continue;
        for (int l = 0; l < NLAYOUT; l++)
            if (!layouts || strstr(layouts, layout_name[l])) rc |= run_layer(&wl[i], l, repeat, threads);
        fflush(stdout);
    }
    CHK(dnnl_stream_destroy(strm));
    CHK(dnnl_engine_destroy(eng));
    return rc;
}
