/* The pieces of a pull both image stores share (pull_common.h), also run
 * under Wine: callers of one reference sharing one pull (and its
 * failure), the layers' workers (each layer once, the first failure kept,
 * nothing new after it), the media types each store takes, and the
 * config's diff ids against the manifest's layers. */

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/macros.h"
#include "image/pull_common.h"

#define H(c)                                                                                       \
#c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c
#define D(c) "sha256:" H(c)

/* --- img_pull_once --- */

struct table {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        struct img_pull_op *ops;
        struct img_pulls t;
        int pulls;      /* how many times pull ran (lock) */
        int fail;       /* the pull's answer: 0 or -errno */
        unsigned await; /* callers the pull waits to see joined */
};

static void table_init(struct table *x)
{
        *x = (struct table){0};
        pthread_mutex_init(&x->lock, NULL);
        pthread_cond_init(&x->cond, NULL);
        x->t = (struct img_pulls){&x->lock, &x->cond, &x->ops};
}

/* Runs once for all callers: it waits until await callers share its op. */
static int slow_pull(void *data, const struct img_ref *ref, char **ret_id, struct uvm_error **err)
{
        struct table *x = data;

        pthread_mutex_lock(&x->lock);
        x->pulls++;
        while (!x->ops || x->ops->waiters < x->await) {
                pthread_mutex_unlock(&x->lock);
                sched_yield();
                pthread_mutex_lock(&x->lock);
        }
        pthread_mutex_unlock(&x->lock);
        if (strcmp(ref->path, "library/busybox") != 0)
                return uvm_error_set(err, EINVAL, "pulled %s", ref->path);
        if (x->fail)
                return uvm_error_set(err, -x->fail, "registry said no");
        *ret_id = strdup(D(a));
        return 0;
}

struct caller {
        struct table *x;
        int r;
        char *id;
        struct uvm_error *err;
};

static void *call(void *arg)
{
        struct caller *c = arg;

        c->r = img_pull_once(&c->x->t, "busybox", slow_pull, c->x, &c->id, &c->err);
        return NULL;
}

static void run_callers(struct table *x, struct caller *c, size_t n)
{
        pthread_t t[4];

        x->await = (unsigned) n;
        for (size_t i = 0; i < n; i++) {
                c[i] = (struct caller){.x = x};
                assert_int_equal(pthread_create(&t[i], NULL, call, &c[i]), 0);
        }
        for (size_t i = 0; i < n; i++)
                pthread_join(t[i], NULL);
}

static void test_pull_once_shared(void **state)
{
        struct table x;
        struct caller c[3];

        (void) state;
        table_init(&x);
        run_callers(&x, c, 3);
        assert_int_equal(x.pulls, 1);
        for (size_t i = 0; i < 3; i++) {
                assert_int_equal(c[i].r, 0);
                assert_string_equal(c[i].id, D(a));
                free(c[i].id);
        }
        assert_null(x.ops); /* the last caller freed it */
}

static void test_pull_once_failure(void **state)
{
        struct table x;
        struct caller c[2];

        (void) state;
        table_init(&x);
        x.fail = -EACCES;
        run_callers(&x, c, 2);
        assert_int_equal(x.pulls, 1);
        for (size_t i = 0; i < 2; i++) {
                assert_int_equal(c[i].r, -EACCES);
                assert_non_null(strstr(c[i].err->msg, "registry said no"));
                uvm_error_free(c[i].err);
        }
        assert_null(x.ops);
        /* A later call pulls again. */
        x.fail = 0;
        run_callers(&x, c, 1);
        assert_int_equal(x.pulls, 2);
        assert_int_equal(c[0].r, 0);
        free(c[0].id);
}

static void test_pull_once_bad_ref(void **state)
{
        struct table x;
        struct uvm_error *err = NULL;
        char *id = NULL;

        (void) state;
        table_init(&x);
        assert_int_equal(img_pull_once(&x.t, "UPPER/Case", slow_pull, &x, &id, &err), -EINVAL);
        assert_int_equal(x.pulls, 0);
        assert_null(id);
        uvm_error_free(err);
}

/* --- img_layers_each --- */

struct layers {
        pthread_mutex_t lock;
        int seen[64];
        size_t fail_at; /* 1-based; 0: none */
        int calls;
};

static int one(void *data, size_t i, struct uvm_error **err)
{
        struct layers *l = data;

        pthread_mutex_lock(&l->lock);
        l->seen[i]++;
        l->calls++;
        pthread_mutex_unlock(&l->lock);
        if (l->fail_at && i + 1 == l->fail_at)
                return uvm_error_set(err, EBADMSG, "layer %zu is bad", i);
        return 0;
}

static void test_layers_each(void **state)
{
        struct layers l = {.lock = PTHREAD_MUTEX_INITIALIZER};
        struct uvm_error *err = NULL;

        (void) state;
        assert_int_equal(img_layers_each(0, one, &l, &err), 0);
        assert_int_equal(l.calls, 0);
        assert_int_equal(img_layers_each(37, one, &l, &err), 0);
        assert_null(err);
        for (size_t i = 0; i < 37; i++)
                assert_int_equal(l.seen[i], 1);
        assert_int_equal(l.seen[37], 0);

        l = (struct layers){.lock = PTHREAD_MUTEX_INITIALIZER, .fail_at = 1};
        assert_int_equal(img_layers_each(64, one, &l, &err), -EBADMSG);
        assert_string_equal(err->msg, "layer 0 is bad");
        assert_int_equal(err->code, EBADMSG);
        uvm_error_free(err);
        /* No layer starts after the failure is seen: at most one per worker
         * besides the failed one was under way. */
        assert_true(l.calls <= 1 + IMG_PULL_WORKERS);
}

/* --- media types and diff ids --- */

static struct img_descriptor layer(const char *media, char *digest)
{
        return (struct img_descriptor){.media_type = (char *) media, .digest = digest, .size = 1};
}

static void test_check_media(void **state)
{
        struct img_descriptor ls[2] = {
                layer("application/vnd.oci.image.layer.v1.tar+gzip", D(1)),
                layer("application/vnd.oci.image.layer.v1.tar+zstd", D(2)),
        };
        struct img_manifest m = {
                .config = {.media_type = "application/vnd.oci.image.config.v1+json",
                           .digest = D(c)},
                .layers = ls,
                .n_layers = 2,
        };
        struct uvm_error *err = NULL;

        (void) state;
        assert_int_equal(img_check_media(&m, true, &err), 0);
        assert_int_equal(img_check_media(&m, false, &err), -ENOTSUP);
        assert_non_null(strstr(err->msg, "tar+zstd"));
        uvm_error_free(err);
        err = NULL;
        m.n_layers = 1;
        assert_int_equal(img_check_media(&m, false, &err), 0);
        m.config.media_type = "application/json";
        assert_int_equal(img_check_media(&m, true, &err), -ENOTSUP);
        assert_non_null(strstr(err->msg, "config media type"));
        uvm_error_free(err);
}

static void test_config_diff_ids(void **state)
{
        static const char cfg[] =
                "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{},"
                "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D(d) "\",\"" D(e) "\"]}}";
        struct img_descriptor ls[2] = {layer("application/vnd.oci.image.layer.v1.tar", D(1)),
                                       layer("application/vnd.oci.image.layer.v1.tar", D(2))};
        struct img_manifest m = {.config = {.digest = D(c)}, .layers = ls, .n_layers = 2};
        struct uvm_error *err = NULL;
        char **ids = NULL;

        (void) state;
        assert_int_equal(img_config_diff_ids(&m, cfg, strlen(cfg), &ids, &err), 0);
        assert_string_equal(ids[0], D(d));
        assert_string_equal(ids[1], D(e));
        assert_null(ids[2]);
        strv_free(ids);
        ids = NULL;
        m.n_layers = 1;
        assert_int_equal(img_config_diff_ids(&m, cfg, strlen(cfg), &ids, &err), -EBADMSG);
        assert_string_equal(err->msg, "config " D(c) " lists 2 layers, the manifest 1");
        assert_null(ids);
        uvm_error_free(err);
        err = NULL;
        assert_true(img_config_diff_ids(&m, "{", 1, &ids, &err) < 0);
        assert_non_null(strstr(err->msg, "config " D(c)));
        uvm_error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_pull_once_shared),  cmocka_unit_test(test_pull_once_failure),
                cmocka_unit_test(test_pull_once_bad_ref), cmocka_unit_test(test_layers_each),
                cmocka_unit_test(test_check_media),       cmocka_unit_test(test_config_diff_ids),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
