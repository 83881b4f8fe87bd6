/* W1c-W1e split into their three passes (forward, input gradient, weight gradient),
 * process CPU time per pass, calling the CPU backend's direct kernels of one ISA table
 * straight (internal header; scratch from malloc, no context; the weight-gradient pass has
 * no bias gradient). Pair with w1_passes.py (PyTorch: aten convolution and
 * convolution_backward with one output mask per pass; its dw pass includes db).
 *   cc -O2 -Isrc -Iinclude -o /tmp/w1_passes docs/bench/w1_passes.c lib/libssl3d.a -fopenmp \
 *      -lopenblas -lcjson -lnifti2 -lznz -lpng -lz -lm
 *   ISA=avx512 /tmp/w1_passes 9 1      (repeat, threads [, workloads 1-4: W1c W1d W1e W1b])
 * `chk` prints three output values, to compare two builds' results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backend/cpu/cpu_isa.h"
static double cpu_ms(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
static int cmp(const void*a,const void*b){double x=*(const double*)a,y=*(const double*)b;return (x>y)-(x<y);}
int main(int argc,char**argv){
  int reps=argc>1?atoi(argv[1]):9; const char*isa=getenv("ISA")?getenv("ISA"):"avx512";
  int threads=argc>2?atoi(argv[2]):1;
  const cpu_conv_isa*T=!strcmp(isa,"avx2")?&cpu_conv_isa_avx2:!strcmp(isa,"generic")?&cpu_conv_isa_generic:&cpu_conv_isa_avx512;
  struct{const char*n;int64_t c,d,h,w;}wl[]={{"W1c",32,24,32,24},{"W1d",64,12,16,12},{"W1e",128,6,8,6},{"W1b",16,48,64,48}};
  int nw=argc>3?atoi(argv[3]):3;
  ssl3d_kctx k={threads,NULL};
  for(int i=0;i<nw;i++){
    ssl3d_conv_geom g={2,wl[i].c,wl[i].c,{wl[i].d,wl[i].h,wl[i].w},{wl[i].d,wl[i].h,wl[i].w},{3,3,3},{1,1,1},{1,1,1}};
    ssl3d_conv_geom t=g; /* transposed same here */
    int64_t nx=2*wl[i].c*wl[i].d*wl[i].h*wl[i].w, nwt=wl[i].c*wl[i].c*27;
    float*x=malloc(nx*4),*y=malloc(nx*4),*dy=malloc(nx*4),*dx=malloc(nx*4),*w=malloc(nwt*4),*dw=malloc(nwt*4),*b=calloc(wl[i].c,4);
    srand(1);for(int64_t j=0;j<nx;j++){x[j]=rand()/(float)RAND_MAX-.5f;dy[j]=rand()/(float)RAND_MAX-.5f;}
    for(int64_t j=0;j<nwt;j++)w[j]=(rand()/(float)RAND_MAX-.5f)*.1f;
    const cpu_conv_isa*U=cpu_isa_for(T,g.cout);
    double tf[64],tx[64],tw[64];
    for(int r=0;r<reps+2;r++){
      double t0=cpu_ms(); U->direct_forward(&k,&g,x,w,b,y,0);
      double t1=cpu_ms(); memset(dx,0,nx*4); U->direct_backward_input(&k,&t,w,dy,dx);
      double t2=cpu_ms(); memset(dw,0,nwt*4); U->direct_backward_weights(&k,&g,x,dy,dw);
      double t3=cpu_ms();
      if(r>=2){tf[r-2]=t1-t0;tx[r-2]=t2-t1;tw[r-2]=t3-t2;}
    }
    qsort(tf,reps,8,cmp);qsort(tx,reps,8,cmp);qsort(tw,reps,8,cmp);
    double gf=2.0*2*wl[i].d*wl[i].h*wl[i].w*wl[i].c*wl[i].c*27/1e9;
    printf("%s %s fwd %.2f [%.2f-%.2f] dx %.2f [%.2f-%.2f] dw %.2f [%.2f-%.2f] sum %.2f  GF/s %.0f %.0f %.0f\n",wl[i].n,isa,
      tf[reps/2],tf[0],tf[reps-1],tx[reps/2],tx[0],tx[reps-1],tw[reps/2],tw[0],tw[reps-1],tf[reps/2]+tx[reps/2]+tw[reps/2],
      gf/tf[reps/2]*1e3,gf/tx[reps/2]*1e3,gf/tw[reps/2]*1e3);
    printf("  chk y0 %.6f dx0 %.6f dw0 %.6f\n",y[123],dx[77],dw[55]);
  }
  return 0;
}
