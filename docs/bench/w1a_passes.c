/* W1a (conv3d 1 -> 16 channels, 48x64x48, batch 2, 3x3x3, pad 1) split into its passes,
 * process CPU time per pass, calling one ISA table's first-layer kernels straight (internal
 * header; scratch from malloc, no context):
 *   fwd    small_forward with bias
 *   dw     small_backward_weights without the bias gradient
 *   dw+db  small_backward_weights with it (one sweep over dY)
 *   db     the bias gradient alone through conv_backward (the path W1a took before)
 *   cc -O2 -Isrc -Iinclude -o /tmp/w1a_passes docs/bench/w1a_passes.c lib/libssl3d.a -fopenmp \
 *      -lopenblas -lcjson -lnifti2 -lznz -lpng -lz -lm
 *   ISA=avx512 /tmp/w1a_passes 15 1      (repeat, threads; ISA=avx512|avx2|generic)
 * `chk` prints a few output values, to compare two builds' results. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "backend/cpu/cpu_isa.h"
static double now(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
static int cmp(const void*a,const void*b){double x=*(const double*)a,y=*(const double*)b;return (x>y)-(x<y);}
int main(int argc,char**argv){
  int reps=argc>1?atoi(argv[1]):9; const char*isa=getenv("ISA")?getenv("ISA"):"avx512";
  int threads=argc>2?atoi(argv[2]):1;
  if(reps<1)reps=1;
  if(reps>64)reps=64;
  const cpu_conv_isa*T=!strcmp(isa,"avx2")?&cpu_conv_isa_avx2:!strcmp(isa,"generic")?&cpu_conv_isa_generic:&cpu_conv_isa_avx512;
  ssl3d_kctx k={threads,NULL};
  int64_t D=48,H=64,W=48,C=16;
  ssl3d_conv_geom g={2,1,C,{D,H,W},{D,H,W},{3,3,3},{1,1,1},{1,1,1}};
  int64_t nx=2*D*H*W, ny=nx*C;
  float*x=malloc(nx*4),*y=malloc(ny*4),*dy=malloc(ny*4),*w=malloc(C*27*4),*dw=malloc(C*27*4),*b=malloc(C*4),*db=malloc(C*4);
  srand(1);for(int64_t j=0;j<nx;j++)x[j]=rand()/(float)RAND_MAX-.5f;
  for(int64_t j=0;j<ny;j++){dy[j]=rand()/(float)RAND_MAX-.5f;y[j]=0;}
  for(int j=0;j<C*27;j++)w[j]=(rand()/(float)RAND_MAX-.5f)*.1f;
  for(int j=0;j<C;j++)b[j]=j*.01f;
  double tf[64],tw[64],tb[64],ta[64];
  for(int r=0;r<reps+2;r++){
    double t0=now(); T->small_forward(&k,&g,x,w,b,y,0);
    double t1=now(); memset(dw,0,sizeof(float)*C*27); T->small_backward_weights(&k,&g,x,dy,dw,NULL);
    double t2=now(); memset(dw,0,sizeof(float)*C*27); memset(db,0,C*4); T->small_backward_weights(&k,&g,x,dy,dw,db);
    double t3=now(); memset(db,0,C*4); ssl3d_cpu_conv_kernels.conv_backward(&k,&g,x,w,dy,NULL,NULL,db);
    double t4=now();
    if(r>=2){tf[r-2]=t1-t0;tw[r-2]=t2-t1;ta[r-2]=t3-t2;tb[r-2]=t4-t3;}
  }
  qsort(tf,reps,8,cmp);qsort(tw,reps,8,cmp);qsort(tb,reps,8,cmp);qsort(ta,reps,8,cmp);
  printf("W1a %s T%d fwd %.2f [%.2f-%.2f] dw %.2f [%.2f-%.2f] dw+db %.2f [%.2f-%.2f] db-alone %.2f [%.2f-%.2f]\n",isa,threads,
    tf[reps/2],tf[0],tf[reps-1],tw[reps/2],tw[0],tw[reps-1],ta[reps/2],ta[0],ta[reps-1],tb[reps/2],tb[0],tb[reps-1]);
  printf("  chk y %.7g %.7g dw %.9g %.9g db %.9g\n",y[123],y[ny-5],dw[55],dw[431],db[7]);
  return 0;
}
