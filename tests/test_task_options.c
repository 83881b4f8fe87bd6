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

/* Exemplar's rotation settings: validated, and a milder augmentation still gives two
 * different views (the loss is finite and the task runs). */
TEST(exemplar_rotation_options) {
    ssl3d_ctx *ctx = th_ctx(1, 3);
    REQUIRE(ctx);
    ssl3d_task *t = NULL;
    CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_EXEMPLAR, 3, 1, "max_degrees=200", &t), SSL3D_ERR_INVALID_ARG);
    CHECK(strstr(ssl3d_ctx_last_error(ctx), "max_degrees") != NULL);
    CHECK_ST(ctx, ssl3d_task_create(ctx, SSL3D_TASK_EXEMPLAR, 3, 1, "rot90=2", &t), SSL3D_ERR_INVALID_ARG);
    REQUIRE_OK(ctx, ssl3d_task_create(ctx, SSL3D_TASK_EXEMPLAR, 3, 1,
                                      "filters=2,levels=1,input_size=8,hidden=4,code_size=4,max_degrees=15,rot90=0", &t));
    int64_t shape[4] = { 1, 10, 10, 10 };
    ssl3d_tensor *imgs[2] = { th_randn(ctx, 4, shape, 0), th_randn(ctx, 4, shape, 0) }, *loss = NULL;
    REQUIRE(imgs[0] && imgs[1]);
    int64_t correct = -1, total = -1;
    REQUIRE_OK(ctx, ssl3d_task_forward(ctx, t, imgs, 2, 1, 0, 0, &loss, &correct, &total));
    float v = NAN;
    ssl3d_tensor_read(ctx, loss, &v, 4);
    CHECK(isfinite(v));
    CHECK(total == 4 && correct >= 0 && correct <= 4);
    ssl3d_tensor_release(loss);
    ssl3d_tensor_release(imgs[0]);
    ssl3d_tensor_release(imgs[1]);
    ssl3d_task_release(t);
    ssl3d_ctx_release(ctx);
}
