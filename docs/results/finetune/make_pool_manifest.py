import json, os
base='/work/shared/data/hippocampus'
d=json.load(open(base+'/dataset.json'))
pool=[int(l.split()[0]) for l in open('/tmp/ftr/hip/pool_cases.txt') if l.strip() and not l.startswith('#')]
sel=[{'image':os.path.abspath(os.path.join(base,d['training'][i]['image'])),
      'label':os.path.abspath(os.path.join(base,d['training'][i]['label']))} for i in pool]
print('pool cases', len(sel))
d['training']=sel; d['numTraining']=len(sel)
d['description']+=' -- POOL ONLY (the 40 protocol test cases removed), for pretraining'
json.dump(d,open('/tmp/ftr/pool_dataset.json','w'),indent=1)
