/* Named option values (norm, exemplar loss and negative) parse to their numbers. */
#include <string.h>
#include "harness.h"

TEST(task_named_option_values) {
    ssl3d_ctx *ctx = th_ctx(1, 0);
    REQUIRE(ctx);
    ssl3d_task *t = NULL;
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_EXEMPLAR, 2, 1, "filters=2,levels=1,loss=ntxent,negative=random,norm=group", &t));
    double v = -1;
    CHECK_OK(ctx, ssl3d_task_option(ctx, t, "loss", &v));
    CHECK(v == 1);
    CHECK_OK(ctx, ssl3d_task_option(ctx, t, "negative", &v));
    CHECK(v == 1);
    CHECK_OK(ctx, ssl3d_task_option(ctx, t, "norm", &v));
    CHECK(v == SSL3D_NORM_GROUP);
    ssl3d_task_release(t);
    t = NULL;
    CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_EXEMPLAR, 2, 1, "loss=contrastive", &t), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "triplet|ntxent") != NULL);
    CHECK(t == NULL);
    ssl3d_ctx_release(ctx);
}
