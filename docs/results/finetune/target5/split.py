import ctypes, sys
L = ctypes.CDLL("/work/main/lib/libssl3d.so")
ctx = ctypes.c_void_p()
assert L.ssl3d_ctx_create(0, ctypes.byref(ctx)) == 0
pool = [int(l) for l in open("/work/main/docs/results/finetune/hippocampus_pool_cases.txt") if l.strip() and not l.startswith("#")]
pool = sorted(set(pool))
n = len(pool)
for seed in (0, 1):
    P = (ctypes.c_int64 * n)(*pool); tr = (ctypes.c_int64 * n)(); va = (ctypes.c_int64 * n)()
    ntr = ctypes.c_int64(); nv = ctypes.c_int64()
    st = L.ssl3d_split_train_val(ctx, P, ctypes.c_int64(n), ctypes.c_double(0.2), ctypes.c_uint64(seed), tr, ctypes.byref(ntr), va, ctypes.byref(nv))
    assert st == 0, st
    open(f"val_s{seed}.txt", "w").write("".join(f"{va[i]}\n" for i in range(nv.value)))
    print(seed, ntr.value, nv.value)
