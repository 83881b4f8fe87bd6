#!/usr/bin/env python3
"""Write a copy of an MSD dataset.json whose "training" list holds only the protocol's pool
cases (absolute paths), so that `ssl3d pretrain` never sees a test image.

usage: make_pool_manifest.py DATASET_JSON POOL_CASES_TXT OUT_JSON
POOL_CASES_TXT: one 0-based case index per line ('#' comments), as written by
`ssl3d protocol` (DIR/pool_cases.txt) and committed as hippocampus_pool_cases.txt."""
import json, os, sys

src, cases, out = sys.argv[1:4]
base = os.path.dirname(os.path.abspath(src))
d = json.load(open(src))
pool = [int(l.split()[0]) for l in open(cases) if l.strip() and not l.startswith('#')]
d['training'] = [{'image': os.path.join(base, d['training'][i]['image']),
                  'label': os.path.join(base, d['training'][i]['label'])} for i in pool]
d['numTraining'] = len(pool)
d['description'] = d.get('description', '') + ' -- POOL ONLY (protocol test cases removed), for pretraining'
json.dump(d, open(out, 'w'), indent=1)
print('pool cases', len(pool), '->', out)
