/* The store rules both image stores take from store_index.c (also run
 * under Wine): RemoveImage refusing an image a container holds and
 * changing nothing, the untag-or-remove rule, a record kept when
 * images.json could not be written, holds by reference released by id,
 * and ImageStatus and ListImages with and without a filter. */

#include <errno.h>
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
#include "image/store_index.h"

#define H(c)                                                                                       \
#c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c
#define D(c) "sha256:" H(c)

/* Two images sharing a layer: busybox (two tags) and x/app. */
static const char INDEX[] =
        "{\"images\":["
        "{\"id\":\"" D(a) "\",\"manifest\":\"" D(
                b) "\",\"size\":300,"
                   "\"tags\":[\"docker.io/library/busybox:latest\",\"127.0.0.1:5000/bb:v1\"],"
                   "\"digests\":[],"
                   "\"layers\":[{\"digest\":\"" D(c) "\",\"chain\":\"" D(
                           d) "\",\"size\":100}]},"
                              "{\"id\":\"" D(1) "\",\"manifest\":\"" D(
                                      2) "\",\"size\":10,\"tags\":[\"docker.io/x/app:1\"],"
                                         "\"digests\":[],"
                                         "\"layers\":[{\"digest\":\"" D(c) "\",\"chain\":\"" D(
                                                 d) "\",\"size\":100},"
                                                    "{\"digest\":\"" D(e) "\",\"chain\":\"" D(
                                                            f) "\",\"size\":5}]}]}";

static struct img_idx_rec *load(void)
{
        struct img_idx_rec *l = NULL;
        struct uvm_error *err = NULL;

        assert_int_equal(img_idx_parse(INDEX, &l, &err), 0);
        return l;
}

/* images.json's write: counted, failing when told to. */
struct saves {
        int n, fail;
};

static int save(void *data, struct uvm_error **err)
{
        struct saves *v = data;

        v->n++;
        return v->fail ? uvm_error_set(err, ENOSPC, "write images.json: disk full") : 0;
}

static int rm(struct img_idx_rec **l, const char *ref, struct saves *v, struct uvm_error **err)
{
        return img_idx_remove(l, ref, save, v, err);
}

static void test_hold_refuses_remove(void **state)
{
        struct img_idx_rec *l = load();
        struct uvm_error *err = NULL;
        struct saves v = {0};
        _cleanup_free_ char *id = NULL, *before = img_idx_format(l), *after = NULL;

        (void) state;
        assert_int_equal(img_idx_hold(l, "x/app:1", "ctr1", &id, &err), 0);
        assert_string_equal(id, D(1));
        assert_int_equal(img_idx_hold(l, H(1), "ctr1", NULL, &err), 0); /* once */
        assert_int_equal(rm(&l, "x/app:1", &v, &err), -EBUSY);
        assert_non_null(err);
        assert_string_equal(err->msg, "image " D(1) " is in use by container ctr1");
        uvm_error_free(err);
        err = NULL;
        /* Nothing changed or written: the record, its name, images.json. */
        assert_int_equal(v.n, 0);
        after = img_idx_format(l);
        assert_string_equal(before, after);
        assert_non_null(img_idx_lookup(l, "x/app:1"));
        /* By id too; the held image's layers stay used. */
        assert_int_equal(rm(&l, D(1), &v, &err), -EBUSY);
        uvm_error_free(err);
        err = NULL;
        assert_true(img_idx_chain_used(l, H(f)));
        /* Released (by id, as the sandbox keeps it): removed. */
        img_idx_release(l, D(1), "someone else");
        assert_int_equal(rm(&l, D(1), &v, &err), -EBUSY);
        uvm_error_free(err);
        err = NULL;
        img_idx_release(l, D(1), "ctr1");
        assert_int_equal(rm(&l, D(1), &v, &err), IMG_IDX_DROPPED);
        assert_null(err);
        assert_int_equal(v.n, 1);
        assert_null(img_idx_lookup(l, "x/app:1"));
        assert_null(img_idx_lookup(l, D(1)));
        assert_false(img_idx_chain_used(l, H(f)));
        assert_true(img_idx_chain_used(l, H(d))); /* busybox's too */
        img_idx_free(l);
}

static void test_untag_while_held(void **state)
{
        struct img_idx_rec *l = load();
        struct uvm_error *err = NULL;
        struct saves v = {0};

        (void) state;
        /* As on Linux: one of several tags goes even from a held image. */
        assert_int_equal(img_idx_hold(l, "busybox", "c", NULL, &err), 0);
        assert_int_equal(rm(&l, "busybox", &v, &err), IMG_IDX_UNTAGGED);
        assert_int_equal(v.n, 1);
        assert_null(img_idx_lookup(l, "busybox"));
        assert_int_equal(rm(&l, "127.0.0.1:5000/bb:v1", &v, &err), -EBUSY);
        uvm_error_free(err);
        err = NULL;
        assert_int_equal(rm(&l, "nothere:1", &v, &err), IMG_IDX_ABSENT);
        assert_null(err);
        assert_int_equal(v.n, 1);
        img_idx_free(l);
}

static void test_failed_save_keeps_record(void **state)
{
        struct img_idx_rec *l = load();
        struct uvm_error *err = NULL;
        struct saves v = {.fail = 1};
        _cleanup_free_ char *before = img_idx_format(l), *after = NULL;

        (void) state;
        /* images.json could not be written: the list still matches it. */
        assert_int_equal(rm(&l, "x/app:1", &v, &err), -ENOSPC);
        assert_string_equal(err->msg, "write images.json: disk full");
        uvm_error_free(err);
        err = NULL;
        after = img_idx_format(l);
        assert_string_equal(before, after);
        assert_true(img_idx_chain_used(l, H(f)));
        v.fail = 0;
        assert_int_equal(rm(&l, "127.0.0.1:5000/bb:v1", &v, &err), IMG_IDX_UNTAGGED);
        assert_int_equal(rm(&l, "busybox", &v, &err), IMG_IDX_DROPPED);
        assert_int_equal(rm(&l, "x/app:1", &v, &err), IMG_IDX_DROPPED);
        assert_null(l);
        assert_int_equal(v.n, 4); /* the failed write, then three */
}

static void test_hold_absent(void **state)
{
        struct img_idx_rec *l = load();
        struct uvm_error *err = NULL;
        char *id = (void *) 1;

        (void) state;
        assert_int_equal(img_idx_hold(l, "nothere:1", "c", &id, &err), -ENOENT);
        assert_ptr_equal(id, (void *) 1); /* written only on success */
        assert_non_null(strstr(err->msg, "not found"));
        uvm_error_free(err);
        img_idx_release(l, D(9), "c"); /* nothing to release: fine */
        img_idx_free(l);
}

struct infos {
        int calls, fail_at;
};

static int fake_info(void *data, const struct img_idx_rec *rec, struct img_info *ret,
                     struct uvm_error **err)
{
        struct infos *c = data;

        if (++c->calls == c->fail_at)
                return uvm_error_set(err, EIO, "config of %s unreadable", rec->id);
        *ret = (struct img_info){.id = strdup(rec->id), .size = rec->size};
        return 0;
}

static void test_list(void **state)
{
        struct img_idx_rec *l = load();
        struct uvm_error *err = NULL;
        struct img_info *v = NULL;
        struct infos c = {0};
        size_t n = 0;

        (void) state;
        assert_int_equal(img_idx_list(l, NULL, fake_info, &c, &v, &n, &err), 0);
        assert_int_equal(n, 2);
        assert_string_equal(v[0].id, D(a));
        assert_string_equal(v[1].id, D(1));
        for (size_t i = 0; i < n; i++)
                img_info_clear(&v[i]);
        free(v);
        assert_int_equal(img_idx_list(l, "x/app:1", fake_info, &c, &v, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_int_equal(v[0].size, 10);
        img_info_clear(&v[0]);
        free(v);
        assert_int_equal(img_idx_list(l, "nothere:2", fake_info, &c, &v, &n, &err), 0);
        assert_int_equal(n, 0);
        free(v);
        {
                struct img_info one = {0};
                assert_int_equal(img_idx_status(l, H(1), fake_info, &c, &one, &err), 0);
                assert_string_equal(one.id, D(1));
                img_info_clear(&one);
                assert_int_equal(img_idx_status(l, "nothere:2", fake_info, &c, &one, &err),
                                 -ENOENT);
                assert_string_equal(err->msg, "image \"nothere:2\" not found");
                uvm_error_free(err);
                err = NULL;
        }
        c = (struct infos){.fail_at = 2};
        assert_int_equal(img_idx_list(l, "", fake_info, &c, &v, &n, &err), -EIO);
        assert_non_null(strstr(err->msg, "unreadable"));
        uvm_error_free(err);
        img_idx_free(l);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_hold_refuses_remove),
                cmocka_unit_test(test_untag_while_held),
                cmocka_unit_test(test_failed_save_keeps_record),
                cmocka_unit_test(test_hold_absent),
                cmocka_unit_test(test_list),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
