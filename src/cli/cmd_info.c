/* `ssl3d info --backends [--json]`: which backends this build has and, for the CPU,
 * which kernels run (the instruction set chosen at run time, SSL3D_CPU_ISA).
 * `ssl3d info FILE [--json]`: dims, voxel spacing, datatype and intensity range of a NIfTI
 * or PNG file. NaN/Inf voxels do not stop it: they are counted ("nonfinite") and the range
 * is that of the finite values (NaN/Inf read as 0). */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "ssl3d.h"
#include "cli.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: ssl3d info FILE [--json]\n"
            "       ssl3d info --backends [--json]\n"
            "\n"
            "Describe a NIfTI (.nii, .nii.gz, .hdr/.img) or PNG file: dims and voxel spacing as\n"
            "stored in the header, datatype, intensity range (after scl_slope/scl_inter for NIfTI,\n"
            "stored sample values for PNG), orientation and the shape the library reads (C,D,H,W,\n"
            "canonical RAS+ voxel order).\n"
            "\n"
            "  --backends  list the compute backends: cpu with the kernels it runs here (AVX-512,\n"
            "           AVX2+FMA or portable, picked at run time; SSL3D_CPU_ISA=generic|avx2|avx512\n"
            "           forces one) and cuda, each available or not with the reason; then\n"
            "           nccl, the CUDA plugin's multi-GPU communicator (libnccl.so.2, loaded at\n"
            "           run time; $SSL3D_NCCL_LIBRARY names it): available with its version or\n"
            "           why not (docs/distributed.md)\n"
            "  --json   one JSON object: {\"dims\": [...], \"spacing\": [...], \"datatype\": \"...\",\n"
            "           \"min\": x, \"max\": x, \"format\": ..., \"shape\": [C,D,H,W], \"orientation\": ...,\n"
            "           \"nonfinite\": n}\n"
            "  --help   this text\n");
}

static int print_json(const ssl3d_image *img, const int64_t *sd, const double *ss, int32_t nd, const int64_t *shape,
                      double mn, double mx) {
    cJSON *o = cJSON_CreateObject();
    cJSON *dims = cJSON_AddArrayToObject(o, "dims");
    cJSON *sp = cJSON_AddArrayToObject(o, "spacing");
    for (int32_t i = 0; i < nd; i++) {
        cJSON_AddItemToArray(dims, cJSON_CreateNumber((double)sd[i]));
        cJSON_AddItemToArray(sp, cJSON_CreateNumber(ss[i]));
    }
    cJSON_AddStringToObject(o, "datatype", ssl3d_image_datatype(img));
    cJSON_AddNumberToObject(o, "min", mn);
    cJSON_AddNumberToObject(o, "max", mx);
    cJSON_AddStringToObject(o, "format", ssl3d_image_format(img));
    cJSON *sh = cJSON_AddArrayToObject(o, "shape");
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(sh, cJSON_CreateNumber((double)shape[i]));
    cJSON_AddStringToObject(o, "orientation", ssl3d_image_orientation(img));
    cJSON_AddNumberToObject(o, "nonfinite", (double)ssl3d_image_nonfinite_count(img));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return 1;
    printf("%s\n", s);
    cJSON_free(s);
    return 0;
}

/* One line (or JSON entry) per backend kind: available, and what runs or why not. */
static int print_backends(int json) {
    static const struct { int32_t kind; const char *name; } kinds[] = {
        { SSL3D_BACKEND_CPU, "cpu" }, { SSL3D_BACKEND_CUDA, "cuda" },
    };
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    int cpu_ok = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char msg[512] = "";
        const int ok = ssl3d_backend_probe(kinds[i].kind, msg, sizeof msg) == SSL3D_OK;
        if (kinds[i].kind == SSL3D_BACKEND_CPU) cpu_ok = ok;
        if (json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", kinds[i].name);
            cJSON_AddBoolToObject(o, "available", ok);
            cJSON_AddStringToObject(o, ok ? "kernels" : "reason", msg);
            cJSON_AddItemToArray(arr, o);
        } else {
            printf("%-5s %s: %s\n", kinds[i].name, ok ? "available" : "unavailable", msg[0] ? msg : "-");
        }
    }
    /* Not a backend but the CUDA backend's communicator: ssl3d_comm_probe_nccl touches no
     * device, so it answers on a machine without a GPU too. */
    char nmsg[512] = "";
    const int nccl_ok = ssl3d_comm_probe_nccl(nmsg, sizeof nmsg) == SSL3D_OK;
    if (!json) printf("%-5s %s: %s\n", "nccl", nccl_ok ? "available" : "unavailable", nmsg[0] ? nmsg : "-");
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "backends", arr);
        cJSON *n = cJSON_CreateObject();
        cJSON_AddBoolToObject(n, "available", nccl_ok);
        cJSON_AddStringToObject(n, nccl_ok ? "library" : "reason", nmsg);
        cJSON_AddItemToObject(o, "nccl", n);
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!s) return 1;
        printf("%s\n", s);
        cJSON_free(s);
    }
    return cpu_ok ? 0 : 1;
}

int cmd_info(int argc, char **argv) {
    const char *file = NULL;
    int json = 0, backends = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        else if (!strcmp(argv[i], "--json")) json = 1;
        else if (!strcmp(argv[i], "--backends")) backends = 1;
        else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "ssl3d info: unknown option '%s' (see ssl3d info --help)\n", argv[i]);
            return 2;
        } else if (file) {
            fprintf(stderr, "ssl3d info: one FILE only ('%s' and '%s')\n", file, argv[i]);
            return 2;
        } else file = argv[i];
    }
    if (backends && file) {
        fprintf(stderr, "ssl3d info: --backends takes no FILE ('%s')\n", file);
        return 2;
    }
    if (backends) return print_backends(json);
    if (!file) {
        fprintf(stderr, "ssl3d info: missing FILE (usage: ssl3d info FILE [--json])\n");
        return 2;
    }
    ssl3d_ctx *ctx = NULL;
    if (ssl3d_ctx_create(SSL3D_BACKEND_CPU, &ctx) != SSL3D_OK) {
        fprintf(stderr, "ssl3d info: cannot create a CPU context\n");
        return 1;
    }
    ssl3d_image *img = NULL;
    if (ssl3d_image_read(ctx, file, SSL3D_IMAGE_NONFINITE_TO_ZERO, &img) != SSL3D_OK) {
        fprintf(stderr, "ssl3d info: %s\n", ssl3d_ctx_last_error(ctx));
        ssl3d_ctx_release(ctx);
        return 1;
    }
    int64_t sd[8], shape[4];
    double ss[8], mn = 0, mx = 0;
    int32_t nd = ssl3d_image_stored_ndim(img);
    ssl3d_image_stored_dims(ctx, img, sd, 8);
    ssl3d_image_stored_spacing(ctx, img, ss, 8);
    ssl3d_image_dims(ctx, img, shape);
    ssl3d_image_range(ctx, img, &mn, &mx);
    int png = !strcmp(ssl3d_image_format(img), "png");
    if (png) {   /* report stored sample values, not the [0,1] scaling of the reader */
        double full = !strcmp(ssl3d_image_datatype(img), "uint16") ? 65535.0 : 255.0;
        mn = (double)(long)(mn * full + 0.5);
        mx = (double)(long)(mx * full + 0.5);
    }
    int rc = 0;
    if (json) rc = print_json(img, sd, ss, nd, shape, mn, mx);
    else {
        printf("file:        %s\nformat:      %s\ndims:        ", file, ssl3d_image_format(img));
        for (int32_t i = 0; i < nd; i++) printf(i ? " x %lld" : "%lld", (long long)sd[i]);
        printf("\nspacing:     ");
        for (int32_t i = 0; i < nd; i++) printf(i ? " x %g" : "%g", ss[i]);
        printf("%s\ndatatype:    %s\nrange:       %g .. %g\n", png ? "" : " (mm)", ssl3d_image_datatype(img), mn, mx);
        if (!png) printf("orientation: %s (read as RAS+)\n", ssl3d_image_orientation(img));
        printf("shape:       C=%lld D=%lld H=%lld W=%lld\n", (long long)shape[0], (long long)shape[1],
               (long long)shape[2], (long long)shape[3]);
        if (ssl3d_image_nonfinite_count(img))
            printf("nonfinite:   %lld voxels are NaN/Inf (read as 0)\n", (long long)ssl3d_image_nonfinite_count(img));
    }
    ssl3d_image_release(img);
    ssl3d_ctx_release(ctx);
    return rc;
}
