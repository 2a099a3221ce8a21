/* The image records (store_index.h) and img_win_layer_disks, portable
 * (also run under Wine): images.json read and written back the same,
 * lookup by tag, short name, digest, id and prefix, a tag moving between
 * images, RemoveImage's untag-or-remove rule, which blobs and chains are
 * used, ImageStatus' fields, and the disks' paths from a store on disk. */

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
#include "common/platform.h"
#include "image/store_index.h"
#include "image/store_win.h"

#define H(c)                                                                                       \
#c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c #c
#define D(c) "sha256:" H(c)

static const char INDEX[] = "{\"images\":[{\"id\":\"" D(a) "\",\"manifest\":\"" D(
        b) "\",\"size\":300,"
           "\"tags\":[\"docker.io/library/busybox:latest\",\"127.0.0.1:5000/bb:v1\"],"
           "\"digests\":[\"docker.io/library/busybox@" D(
                   b) "\"],"
                      "\"layers\":[{\"digest\":\"" D(c) "\",\"chain\":\"" D(
                              d) "\",\"size\":100},"
                                 "{\"digest\":\"" D(e) "\",\"chain\":\"" D(
                                         f) "\",\"size\":150}]},"
                                            "{\"id\":\"" D(1) "\",\"manifest\":\"" D(
                                                    2) "\",\"size\":10,\"tags\":[\"x/app:1\"],"
                                                       "\"digests\":[],\"layers\":[{\"digest\":"
                                                       "\"" D(c) "\",\"chain\":\"" D(
                                                               d) "\",\"size\":100}]},"
                                                                  "{\"id\":\"not a "
                                                                  "digest\",\"manifest\":\"" D(
                                                                          2) "\",\"layers\":[]}]}";

static struct img_idx_rec *load(void)
{
        struct img_idx_rec *l = NULL;
        struct uvm_error *err = NULL;

        assert_int_equal(img_idx_parse(INDEX, &l, &err), 0);
        return l;
}

static void test_round_trip(void **state)
{
        struct img_idx_rec *l = load(), *l2 = NULL;
        _cleanup_free_ char *text = NULL, *text2 = NULL;
        struct uvm_error *err = NULL;

        (void) state;
        assert_non_null(l && l->next);
        assert_null(l->next->next); /* the malformed record is skipped */
        assert_int_equal(l->n_layers, 2);
        assert_int_equal(l->size, 300);
        assert_int_equal(l->layers[1].size, 150);
        text = img_idx_format(l);
        assert_int_equal(img_idx_parse(text, &l2, &err), 0);
        text2 = img_idx_format(l2);
        assert_string_equal(text, text2);
        img_idx_free(l2);
        assert_int_equal(img_idx_parse("{\"nope\":1}", &l2, &err), -EINVAL);
        uvm_error_free(err);
        img_idx_free(l);
}

static void test_lookup(void **state)
{
        struct img_idx_rec *l = load(), *b = l, *app = l->next;

        (void) state;
        assert_ptr_equal(img_idx_lookup(l, "busybox"), b);
        assert_ptr_equal(img_idx_lookup(l, "docker.io/library/busybox:latest"), b);
        assert_ptr_equal(img_idx_lookup(l, "127.0.0.1:5000/bb:v1"), b);
        assert_ptr_equal(img_idx_lookup(l, "busybox@" D(b)), b);
        assert_ptr_equal(img_idx_lookup(l, D(1)), app);
        assert_ptr_equal(img_idx_lookup(l, H(1)), app);
        assert_ptr_equal(img_idx_lookup(l, "1111"), app);
        assert_null(img_idx_lookup(l, "111")); /* too short a prefix */
        assert_null(img_idx_lookup(l, "busybox:other"));
        assert_null(img_idx_lookup(l, "x/app:2"));
        img_idx_free(l);
}

static struct img_idx_rec *rec(const char *id, const char *tag)
{
        struct img_idx_rec *r = calloc(1, sizeof(*r));

        assert_non_null(r);
        r->id = strdup(id);
        r->manifest = strdup(id);
        r->tags = calloc(1, sizeof(char *));
        r->digests = calloc(1, sizeof(char *));
        r->layers = calloc(1, sizeof(*r->layers));
        assert_int_equal(img_idx_strv_add(&r->tags, tag), 1);
        assert_int_equal(img_idx_strv_add(&r->tags, tag), 0);
        return r;
}

static void test_commit_moves_tags(void **state)
{
        struct img_idx_rec *l = load();

        (void) state;
        /* busybox:latest moves to a new image; the old one keeps its other tag. */
        assert_int_equal(img_idx_commit(&l, rec(D(9), "docker.io/library/busybox:latest")), 0);
        assert_string_equal(img_idx_lookup(l, "busybox")->id, D(9));
        assert_string_equal(img_idx_lookup(l, "127.0.0.1:5000/bb:v1")->id, D(a));
        /* The same id again: its names merge into the one record. */
        assert_int_equal(img_idx_commit(&l, rec(D(9), "docker.io/y/z:1")), 0);
        assert_ptr_equal(img_idx_lookup(l, "y/z:1"), img_idx_lookup(l, "busybox"));
        assert_string_equal(img_idx_lookup(l, "busybox")->tags[1], "docker.io/y/z:1");
        img_idx_free(l);
}

/* RemoveImage's rule as the stores apply it: 0 nothing, 1 untagged, 2 removed. */
static int remove_ref(struct img_idx_rec **l, const char *ref)
{
        struct img_idx_rec *rec = img_idx_lookup(*l, ref);

        if (!rec)
                return 0;
        if (img_idx_untag(rec, ref))
                return 1;
        img_idx_drop(l, rec);
        return 2;
}

static void test_remove_and_used(void **state)
{
        struct img_idx_rec *l = load();

        (void) state;
        assert_true(img_idx_blob_used(l, H(c)));
        assert_true(img_idx_blob_used(l, H(b)));
        assert_true(img_idx_chain_used(l, H(f)));
        assert_false(img_idx_chain_used(l, H(c)));
        /* A tag of two: untagged only. */
        assert_int_equal(remove_ref(&l, "busybox"), 1);
        assert_null(img_idx_lookup(l, "busybox"));
        assert_non_null(img_idx_lookup(l, "127.0.0.1:5000/bb:v1"));
        /* The last tag: the record goes; the shared layer stays in use. */
        assert_int_equal(remove_ref(&l, "127.0.0.1:5000/bb:v1"), 2);
        assert_false(img_idx_chain_used(l, H(f)));
        assert_false(img_idx_blob_used(l, H(e)));
        assert_true(img_idx_chain_used(l, H(d)));
        assert_int_equal(remove_ref(&l, "127.0.0.1:5000/bb:v1"), 0);
        assert_int_equal(remove_ref(&l, D(1)), 2);
        assert_null(l);
}

static void test_info(void **state)
{
        static const char cfg[] = "{\"architecture\":\"amd64\",\"os\":\"linux\","
                                  "\"config\":{\"User\":\"1000:10\",\"Cmd\":[\"sh\"]},"
                                  "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}";
        struct img_idx_rec *l = load();
        struct img_info i = {0};
        struct uvm_error *err = NULL;

        (void) state;
        assert_int_equal(img_idx_info(l, cfg, strlen(cfg), &i, &err), 0);
        assert_string_equal(i.id, D(a));
        assert_string_equal(i.repo_tags[1], "127.0.0.1:5000/bb:v1");
        assert_string_equal(i.repo_digests[0], "docker.io/library/busybox@" D(b));
        assert_int_equal(i.size, 300);
        assert_true(i.has_uid);
        assert_int_equal(i.uid, 1000);
        assert_string_equal(i.config.cmd[0], "sh");
        img_info_clear(&i);
        assert_true(img_idx_info(l, "{", 1, &i, &err) < 0);
        uvm_error_free(err);
        img_idx_free(l);
}

#ifdef _WIN32
#define SEP "\\"
#else
#define SEP "/"
#endif

static void test_layer_disks(void **state)
{
        _cleanup_free_ char *root = NULL, *path = NULL, *want = NULL;
        _cleanup_strv_ char **v = NULL;
        struct uvm_error *err = NULL;

        (void) state;
        assert_int_equal(plat_mkdtemp("imgwin-", &root), 0);
        assert_int_equal(img_win_layer_disks(root, "busybox", &v, &err), -ENOENT);
        uvm_error_free(err);
        err = NULL;
        assert_true(asprintf(&path, "%s" SEP "images.json", root) > 0);
        assert_int_equal(plat_write_file_atomic(path, INDEX, strlen(INDEX), 0600), 0);
        assert_int_equal(img_win_layer_disks(root, "busybox", &v, &err), 0);
        assert_true(asprintf(&want, "%s" SEP "disks" SEP "%s.vhd", root, H(d)) > 0);
        assert_string_equal(v[0], want);
        assert_non_null(strstr(v[1], H(f) ".vhd"));
        assert_null(v[2]);
        assert_int_equal(img_win_layer_disks(root, "nope:1", &v, &err), -ENOENT);
        uvm_error_free(err);
        assert_int_equal(plat_rm_rf(root), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_round_trip),
                cmocka_unit_test(test_lookup),
                cmocka_unit_test(test_commit_moves_tags),
                cmocka_unit_test(test_remove_and_used),
                cmocka_unit_test(test_info),
                cmocka_unit_test(test_layer_disks),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
