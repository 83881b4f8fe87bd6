import re, sys, collections, statistics
hdr = re.compile(r"^== (\w+) (\S+) T=(\d)")
line = re.compile(r"^(W1[a-e]) (\S+) cpu-ms ([\d.]+) \(min ([\d.]+), max ([\d.]+)\) ([\d.]+) GFLOP/s per CPU-second; "
                  r"wall-ms ([\d.]+) \(min ([\d.]+), max ([\d.]+)\) ([\d.]+) GFLOP/s")
res = collections.defaultdict(list)
for fn in sorted(sys.argv[2:]):
    cur = None
    for l in open(fn):
        m = hdr.match(l)
        if m:
            who, isa, T = m.groups(); cur = (int(T), "avx2" if isa.lower() == "avx2" else "avx512"); continue
        m = line.match(l)
        if m and cur:
            res[(cur[0], cur[1], m.group(2), m.group(1))].append([float(x) for x in m.groups()[2:]])
wall = sys.argv[1] == "wall"
o = 4 if wall else 0
gfl = {"W1a": 2*2*2*48*64*48*16*27/1e9}
for n, ci, v in [("W1b",16,48*64*48),("W1c",32,24*32*24),("W1d",64,12*16*12),("W1e",128,6*8*6)]:
    gfl[n] = 3*2*2*v*ci*ci*27/1e9
whos = ["ours", "torch", "onednn-blocked", "onednn-plain", "onednn-native"]
for T in (1, 2):
    for isa in ("avx512", "avx2"):
        print(f"\nT={T} {isa} {'wall' if wall else 'cpu'}")
        if not res.get((T, isa, "ours", "W1e")): continue
        for layer in ("W1a", "W1b", "W1c", "W1d", "W1e"):
            cells = []
            for w in whos:
                v = res.get((T, isa, w, layer), [])
                if not v: cells.append("-"); continue
                meds = [x[o] for x in v]; mn = min(x[o+1] for x in v); mx = max(x[o+2] for x in v)
                mm = statistics.median(meds)
                cells.append(f"{' / '.join(f'{x:.1f}' if x >= 10 else f'{x:.2f}' for x in meds)} [{mn:.1f}-{mx:.1f}] {gfl[layer]/(mm/1e3):.0f}")
            best = min(statistics.median([x[o] for x in res[(T, isa, w, layer)]]) for w in whos[2:4])
            ours = statistics.median([x[o] for x in res[(T, isa, 'ours', layer)]])
            print(f"| {layer} | " + " | ".join(cells) + f" | {ours/best:.2f} |")
