import gzip, struct, sys, os, numpy as np, scipy.ndimage as nd
H = "/work/shared/data/hippocampus"
def load(p):
    b = gzip.open(p).read() if p.endswith(".gz") else open(p, "rb").read()
    dim = struct.unpack("<8h", b[40:56]); dt = struct.unpack("<h", b[70:72])[0]; off = int(struct.unpack("<f", b[108:112])[0])
    shape = dim[1:1 + dim[0]]
    t = {2: np.uint8, 4: np.int16, 8: np.int32, 16: np.float32, 64: np.float64, 256: np.int8, 512: np.uint16}[dt]
    n = int(np.prod(shape))
    return np.frombuffer(b, t, n, off).reshape(shape[::-1]).astype(np.int32)
def dice(a, b):
    s = a.sum() + b.sum(); return 1.0 if s == 0 else 2.0 * (a & b).sum() / s
full = np.ones((3, 3, 3), bool)
def keep_largest(mask):
    lab, n = nd.label(mask, structure=full)
    if n <= 1: return mask
    sz = np.bincount(lab.ravel()); sz[0] = 0
    return lab == sz.argmax()
def post(p, mode):
    if mode == "none": return p
    q = p.copy()
    if mode in ("fg", "fg+cls"):
        q[~keep_largest(q > 0)] = 0
    if mode in ("cls", "fg+cls"):
        for c in (1, 2):
            m = q == c; q[m & ~keep_largest(m)] = 0
    return q
modes = ["none", "fg", "cls", "fg+cls"]
for d in sys.argv[1:]:
    res = {m: [] for m in modes}; ncomp = []
    for f in sorted(os.listdir(d)):
        p = load(os.path.join(d, f)); g = load(os.path.join(H, "labelsTr", f))
        ncomp.append([nd.label(p == c, structure=full)[1] for c in (1, 2)])
        for m in modes:
            q = post(p, m); res[m].append([dice(q == c, g == c) for c in (1, 2)])
    print(d, "cases", len(ncomp), "cases with >1 component per class:", sum(1 for a in ncomp if max(a) > 1))
    for m in modes:
        r = np.array(res[m]); mean = r.mean(1)
        print(f"  {m:7s} class1 {r[:,0].mean():.4f} class2 {r[:,1].mean():.4f} mean {mean.mean():.4f}")
