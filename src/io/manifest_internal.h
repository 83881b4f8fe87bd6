/* Private definitions of the dataset manifests (MSD dataset.json, CSV). */
#ifndef SSL3D_MANIFEST_INTERNAL_H
#define SSL3D_MANIFEST_INTERNAL_H
#include "image_internal.h"

typedef struct {
    char **images;          /* resolved paths, n_images >= 1 */
    int32_t n_images;
    char *label_path;       /* resolved, or NULL */
    int32_t label;          /* class label, -1 when none */
    int32_t split;          /* SSL3D_SPLIT_* */
    char *where;            /* "training[3]" / "line 7", for messages */
} ssl3d_mcase;

struct ssl3d_manifest {
    int32_t kind;
    char *path;
    char *dir;              /* directory of the manifest, "" for the current one */
    ssl3d_mcase *cases;
    int64_t n, cap;
    char **channels;
    int32_t n_channels;
    int32_t *label_values;
    char **label_names;
    int32_t n_labels;
};

/* Append an empty case; NULL on OOM. */
ssl3d_mcase *ssl3d_manifest_add_case(ssl3d_manifest *m);
/* Resolve `rel` against the manifest directory (drops a leading "./"); NULL on OOM. */
char *ssl3d_manifest_resolve(const ssl3d_manifest *m, const char *rel);
/* Parsers: fill m from the text (NUL-terminated, len bytes). `fn` names the caller. */
ssl3d_status ssl3d_manifest_parse_msd(ssl3d_ctx *ctx, const char *fn, ssl3d_manifest *m, const char *text,
                                      size_t len);
ssl3d_status ssl3d_manifest_parse_csv(ssl3d_ctx *ctx, const char *fn, ssl3d_manifest *m, const char *text,
                                      size_t len);
#endif
