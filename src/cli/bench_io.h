/* IO benchmark: reading the 200 images and 200 label maps of the hippocampus data set
 * (../shared/data/hippocampus, MSD Task04 layout) with ssl3d_image_read, against
 * nibabel (bench_io_nibabel_py, run by `ssl3d bench --reference`). */
#ifndef SSL3D_BENCH_IO_H
#define SSL3D_BENCH_IO_H
#include <stdio.h>

#define BENCH_IO_NAME "IO_hippocampus_read_200"

/* Python source of the nibabel reference: argv[1] = hippocampus folder, argv[2] =
 * repeat; prints {"nibabel": version, "workloads": {BENCH_IO_NAME: {"ms": ...}}}. Loads
 * every imagesTr/ and labelsTr/ *.nii.gz with nibabel.load(...).get_fdata(float32)
 * (decompression, scaling to float32, as ssl3d_image_read does). */
extern const char bench_io_nibabel_py[];

/* Times reading every imagesTr/ and labelsTr/ *.nii.gz under `hippo_dir` (float32
 * canonical voxels, then released): 1 warm-up run (page cache), `repeat` timed runs.
 * Prints one line to stdout; json_out as in bench_train. Returns 0, 1 on error. */
int bench_io(const char *hippo_dir, int threads, int repeat, FILE *json_out);
#endif
