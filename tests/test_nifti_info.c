/* `ssl3d info` end to end through bin/ssl3d (skipped when the program is not built). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "harness.h"
#include "test_nifti_util.h"

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 65536);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int run(const char *args, const char *out, const char *err) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "./bin/ssl3d info %s >'%s' 2>'%s'", args, out, err);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(info_cli_json_and_errors) {
    if (access("./bin/ssl3d", X_OK) != 0) SKIP("bin/ssl3d not built (run make)");
    const char *out = tn_path(th_tmpdir(), "out.txt"), *err = tn_path(th_tmpdir(), "err.txt");
    char o[512], e[512];
    snprintf(o, sizeof o, "%s", out);
    snprintf(e, sizeof e, "%s", err);
    tn_geom g = TN_PLAIN;
    g.use_sform = 1;
    double s[3][4] = { { -2, 0, 0, 0 }, { 0, -1, 0, 0 }, { 0, 0, 3, 0 } };
    memcpy(g.sform, s, sizeof s);
    g.pixdim[1] = 2; g.pixdim[2] = 1; g.pixdim[3] = 3;
    char p[512];
    snprintf(p, sizeof p, "%s", tn_path(th_tmpdir(), "vol.nii.gz"));
    REQUIRE(tn_write_f32(p, 4, 3, 2, &g) == 0);
    char args[1024];
    snprintf(args, sizeof args, "--json '%s'", p);
    REQUIRE(run(args, o, e) == 0);
    char *txt = slurp(o);
    REQUIRE(txt);
    cJSON *j = cJSON_Parse(txt);
    REQUIRE(j);
    cJSON *dims = cJSON_GetObjectItem(j, "dims"), *sp = cJSON_GetObjectItem(j, "spacing");
    CHECK(cJSON_GetArraySize(dims) == 3 && cJSON_GetArrayItem(dims, 0)->valuedouble == 4 &&
          cJSON_GetArrayItem(dims, 2)->valuedouble == 2);
    CHECK(cJSON_GetArraySize(sp) == 3 && cJSON_GetArrayItem(sp, 0)->valuedouble == 2 &&
          cJSON_GetArrayItem(sp, 2)->valuedouble == 3);
    CHECK(!strcmp(cJSON_GetObjectItem(j, "datatype")->valuestring, "float32"));
    CHECK(cJSON_GetObjectItem(j, "min")->valuedouble == 0 && cJSON_GetObjectItem(j, "max")->valuedouble == 23);
    CHECK(!strcmp(cJSON_GetObjectItem(j, "orientation")->valuestring, "LPS"));
    cJSON_Delete(j);
    free(txt);
    /* plain text and --help */
    snprintf(args, sizeof args, "'%s'", p);
    CHECK(run(args, o, e) == 0);
    txt = slurp(o);
    CHECK(txt && strstr(txt, "float32") && strstr(txt, "4 x 3 x 2"));
    free(txt);
    CHECK(run("--help", o, e) == 0);
    /* a missing file: non-zero, one line on stderr naming it */
    CHECK(run("/nonexistent/file.nii.gz", o, e) == 1);
    txt = slurp(e);
    CHECK(txt && strstr(txt, "/nonexistent/file.nii.gz") && strchr(txt, '\n') == txt + strlen(txt) - 1);
    free(txt);
    txt = slurp(o);
    CHECK(txt && txt[0] == '\0');
    free(txt);
    /* a truncated file */
    tn_truncate(p, 40);
    snprintf(args, sizeof args, "--json '%s'", p);
    CHECK(run(args, o, e) == 1);
    txt = slurp(e);
    CHECK(txt && strstr(txt, "vol.nii.gz"));
    free(txt);
    CHECK(run("", o, e) == 2);
    CHECK(run("--bogus x.nii", o, e) == 2);
}
