"""PyTorch side of docs/bench/w1_passes.c: W1c-W1e forward, input gradient and weight (+bias)
gradient timed separately in process CPU time.
Usage: OMP_NUM_THREADS=1 /usr/bin/python3 docs/bench/w1_passes.py [repeat 9] [threads 1]"""
import sys, time, statistics, torch
reps=int(sys.argv[1]) if len(sys.argv)>1 else 9
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv)>2 else 1)
for name,c,sp in [("W1c",32,(24,32,24)),("W1d",64,(12,16,12)),("W1e",128,(6,8,6))]:
    x=torch.randn(2,c,*sp); w=torch.randn(c,c,3,3,3)*.05; b=torch.zeros(c); g=torch.randn(2,c,*sp)
    tf=[];tx=[];tw=[]
    for r in range(reps+2):
        t0=time.process_time(); y=torch.ops.aten.convolution(x,w,b,[1,1,1],[1,1,1],[1,1,1],False,[0,0,0],1)
        t1=time.process_time(); dx,_,_=torch.ops.aten.convolution_backward(g,x,w,[c],[1,1,1],[1,1,1],[1,1,1],False,[0,0,0],1,[True,False,False])
        t2=time.process_time(); _,dw,db=torch.ops.aten.convolution_backward(g,x,w,[c],[1,1,1],[1,1,1],[1,1,1],False,[0,0,0],1,[False,True,True])
        t3=time.process_time()
        if r>=2: tf.append((t1-t0)*1e3);tx.append((t2-t1)*1e3);tw.append((t3-t2)*1e3)
    gf=2*2*sp[0]*sp[1]*sp[2]*c*c*27/1e9
    m=statistics.median
    print(f"{name} torch fwd {m(tf):.2f} [{min(tf):.2f}-{max(tf):.2f}] dx {m(tx):.2f} [{min(tx):.2f}-{max(tx):.2f}] dw(+db) {m(tw):.2f} [{min(tw):.2f}-{max(tw):.2f}] sum {m(tf)+m(tx)+m(tw):.2f} GF/s {gf/m(tf)*1e3:.0f} {gf/m(tx)*1e3:.0f} {gf/m(tw)*1e3:.0f}")
