/*
 * img_layer_disk and the disks' garbage collection, against a real store: a
 * docker-save archive written here with libarchive holds two images sharing
 * layer A ("hello": "hi"), the second with a layer B on top; it goes in with
 * img_import. Disks are made by the real mkfs.erofs (erofs-utils); without it
 * every case is skipped. No root needed: layer files are owned by the caller.
 */

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#include "common/error.h"
#include "common/fs.h"
#include "common/macros.h"
#include "image/digest.h"
#include "image/image.h"

#define LAYER_MAX (64 * 1024)
#define EROFS_MAGIC_OFFSET 1024
#define UNKNOWN_HEX "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* One tar entry: a directory (data NULL) or a regular file. */
struct ent {
        const char *path;
        const char *data;
};

static struct {
        char base[PATH_MAX]; /* the temp dir: root, root2, archive */
        char *root;          /* the store */
        char *archive;
        char diff_a[IMG_DIGEST_LEN + 1], diff_b[IMG_DIGEST_LEN + 1];
        char chain_b[IMG_DIGEST_LEN + 1];
        char id1[IMG_DIGEST_LEN + 1], id2[IMG_DIGEST_LEN + 1];
        struct img_store *s;
} f;

/* A formatted path (freed by the caller). */
static char *_printf_(1, 2) path_of(const char *fmt, ...)
{
        va_list ap;
        char *p = NULL;
        int n;

        va_start(ap, fmt);
        n = vasprintf(&p, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        return p;
}

static bool have_mkfs(void)
{
        static const char *const paths[] = {"/usr/bin/mkfs.erofs", "/usr/sbin/mkfs.erofs",
                                            "/sbin/mkfs.erofs", "/bin/mkfs.erofs"};

        for (size_t i = 0; i < ARRAY_SIZE(paths); i++)
                if (access(paths[i], X_OK) == 0)
                        return true;
        return false;
}

static void add_entry(struct archive *a, const char *path, const char *data, size_t len)
{
        struct archive_entry *e = archive_entry_new();

        archive_entry_set_pathname(e, path);
        archive_entry_set_filetype(e, data ? AE_IFREG : AE_IFDIR);
        archive_entry_set_perm(e, data ? 0644 : 0755);
        /* Our own ids: the unpack chowns, which needs no privilege then. */
        archive_entry_set_uid(e, getuid());
        archive_entry_set_gid(e, getgid());
        archive_entry_set_mtime(e, 1700000000, 0);
        archive_entry_set_size(e, data ? (la_int64_t) len : 0);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (data && len)
                assert_int_equal(archive_write_data(a, data, len), (la_ssize_t) len);
        archive_entry_free(e);
}

/* A layer tar in buf; returns its length. */
static size_t make_layer(const struct ent *ents, size_t n, char *buf, size_t cap)
{
        struct archive *a = archive_write_new();
        size_t used = 0;

        assert_non_null(a);
        assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_memory(a, buf, cap, &used), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++)
                add_entry(a, ents[i].path, ents[i].data, ents[i].data ? strlen(ents[i].data) : 0);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        return used;
}

static void config_json(char *buf, size_t cap, const char *cmd, const char *diff1,
                        const char *diff2)
{
        snprintf(buf, cap,
                 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"%s\"]},"
                 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"%s%s%s]}}",
                 cmd, diff1, diff2 ? ",\"" : "", diff2 ? diff2 : "", diff2 ? "\"" : "");
}

/* The docker-save archive: disk/one:1 = [A], disk/two:1 = [A, B]. */
static void write_archive(void)
{
        static const struct ent layer_a[] = {{"hello", "hi"}};
        static const struct ent layer_b[] = {{"b", "b\n"}, {"d", NULL}, {"d/c", "c\n"}};
        static const char manifest[] =
                "[{\"Config\":\"c1.json\",\"RepoTags\":[\"disk/one:1\"],\"Layers\":[\"a.tar\"]},"
                "{\"Config\":\"c2.json\",\"RepoTags\":[\"disk/two:1\"],"
                "\"Layers\":[\"a.tar\",\"b.tar\"]}]";
        static char a_tar[LAYER_MAX], b_tar[LAYER_MAX];
        char c1[512], c2[512], pair[2 * IMG_DIGEST_LEN + 2];
        size_t a_len = make_layer(layer_a, ARRAY_SIZE(layer_a), a_tar, sizeof(a_tar));
        size_t b_len = make_layer(layer_b, ARRAY_SIZE(layer_b), b_tar, sizeof(b_tar));
        struct archive *a = archive_write_new();

        img_digest_buf(a_tar, a_len, f.diff_a);
        img_digest_buf(b_tar, b_len, f.diff_b);
        /* What img_chain_ids does: layer B's directory is named by the pair. */
        snprintf(pair, sizeof(pair), "%s %s", f.diff_a, f.diff_b);
        img_digest_buf(pair, strlen(pair), f.chain_b);
        config_json(c1, sizeof(c1), "/one", f.diff_a, NULL);
        config_json(c2, sizeof(c2), "/two", f.diff_a, f.diff_b);
        img_digest_buf(c1, strlen(c1), f.id1);
        img_digest_buf(c2, strlen(c2), f.id2);

        assert_non_null(a);
        assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, f.archive), ARCHIVE_OK);
        add_entry(a, "a.tar", a_tar, a_len);
        add_entry(a, "b.tar", b_tar, b_len);
        add_entry(a, "c1.json", c1, strlen(c1));
        add_entry(a, "c2.json", c2, strlen(c2));
        add_entry(a, "manifest.json", manifest, strlen(manifest));
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
}

static struct img_store *open_store(const char *root)
{
        struct img_options o = {.root = root};
        struct uvm_error *err = NULL;
        struct img_store *s = NULL;
        char **ids = NULL;

        assert_int_equal(img_store_new(&o, &s, &err), 0);
        assert_int_equal(img_import(s, f.archive, &ids, &err), 0);
        assert_null(err);
        assert_non_null(ids);
        assert_string_equal(ids[0], f.id1);
        assert_string_equal(ids[1], f.id2);
        assert_null(ids[2]);
        strv_free(ids);
        return s;
}

static int setup(void **state)
{
        const char *tmp = getenv("TEST_TMPDIR");

        memset(&f, 0, sizeof(f));
        snprintf(f.base, sizeof(f.base), "%s/disk-test-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f.base));
        f.root = path_of("%s/images", f.base);
        f.archive = path_of("%s/two-images.tar", f.base);
        write_archive();
        f.s = open_store(f.root);
        return 0;
}

static int teardown(void **state)
{
        img_store_free(f.s);
        assert_int_equal(fs_rm_rf(f.base), 0);
        free(f.root);
        free(f.archive);
        return 0;
}

/* img_use by id: the layer directories (the caller frees them). */
static char **use(const char *id, const char *user)
{
        struct img_config cfg = {0};
        struct uvm_error *err = NULL;
        char *got_id = NULL, **layers = NULL;

        assert_int_equal(img_use(f.s, id, user, &got_id, &layers, &cfg, &err), 0);
        assert_string_equal(got_id, id);
        free(got_id);
        img_config_clear(&cfg);
        return layers;
}

static char *disk(struct img_store *s, const char *layer_dir)
{
        struct uvm_error *err = NULL;
        char *path = NULL;

        assert_int_equal(img_layer_disk(s, layer_dir, &path, &err), 0);
        assert_null(err);
        assert_non_null(path);
        return path;
}

static void expect_path(const char *got, const char *root, const char *sub, const char *digest,
                        const char *suffix)
{
        _cleanup_free_ char *want =
                path_of("%s/%s/%s%s", root, sub, digest + strlen("sha256:"), suffix);

        assert_string_equal(got, want);
}

static size_t entries(const char *root, const char *sub)
{
        _cleanup_free_ char *path = path_of("%s/%s", root, sub);
        struct dirent *e;
        size_t n = 0;
        DIR *d;

        d = opendir(path);
        if (!d)
                return 0;
        while ((e = readdir(d)))
                if (!STR_EQ(e->d_name, ".") && !STR_EQ(e->d_name, ".."))
                        n++;
        closedir(d);
        return n;
}

static char *slurp(const char *path, size_t *ret_len)
{
        char *buf = NULL;

        assert_int_equal(fs_read_file(path, 64u << 20, &buf, ret_len), 0);
        return buf;
}

/* Made on first use under <root>/disks, an erofs image; then reused as is. */
static void disk_made_once(void **state)
{
        _cleanup_strv_ char **layers = NULL;
        _cleanup_free_ char *path = NULL, *again = NULL, *buf = NULL;
        static const unsigned char magic[] = {0xe2, 0xe1, 0xf5, 0xe0}; /* 0xE0F5E1E2 LE */
        struct stat st1, st2;
        size_t len;

        if (!have_mkfs())
                skip();
        layers = use(f.id1, "c1");
        expect_path(layers[0], f.root, "layers", f.diff_a, "");
        assert_null(layers[1]);
        path = disk(f.s, layers[0]);
        expect_path(path, f.root, "disks", f.diff_a, ".erofs");
        assert_int_equal(stat(path, &st1), 0);
        assert_true(S_ISREG(st1.st_mode));
        assert_true(st1.st_size > EROFS_MAGIC_OFFSET + 4);
        buf = slurp(path, &len);
        assert_int_equal(len, (size_t) st1.st_size);
        assert_memory_equal(buf + EROFS_MAGIC_OFFSET, magic, sizeof(magic));
        assert_int_equal(entries(f.root, "tmp"), 0); /* nothing left behind */

        /* The second call finds it: same file, not rebuilt. */
        again = disk(f.s, layers[0]);
        assert_string_equal(again, path);
        assert_int_equal(stat(again, &st2), 0);
        assert_int_equal(st2.st_ino, st1.st_ino);
        assert_int_equal(st2.st_mtim.tv_sec, st1.st_mtim.tv_sec);
        assert_int_equal(st2.st_mtim.tv_nsec, st1.st_mtim.tv_nsec);
        assert_int_equal(entries(f.root, "disks"), 1);
        img_release(f.s, f.id1, "c1");
}

/* Same layer, same bytes: rebuilt after deletion, and in another store. */
/* A rebuilt disk is a whole one again, and files keep the image's mtimes
 * (the archive's 1700000000), as they do in an ns pod: read back with
 * erofs-utils' own extractor. */
static void disk_rebuilt_keeps_mtimes(void **state)
{
        _cleanup_strv_ char **layers = NULL;
        _cleanup_free_ char *a = NULL, *b = NULL, *rebuilt = NULL, *out = NULL, *cmd = NULL,
                            *file = NULL;
        _cleanup_free_ char *a1 = NULL, *b1 = NULL, *b2 = NULL;
        size_t a1_len, b1_len, b2_len;
        struct stat st;

        if (!have_mkfs() || access("/usr/bin/fsck.erofs", X_OK) < 0)
                skip();
        layers = use(f.id2, "c2");
        expect_path(layers[0], f.root, "layers", f.diff_a, "");
        expect_path(layers[1], f.root, "layers", f.chain_b, "");
        a = disk(f.s, layers[0]);
        b = disk(f.s, layers[1]);
        expect_path(b, f.root, "disks", f.chain_b, ".erofs");
        a1 = slurp(a, &a1_len);
        b1 = slurp(b, &b1_len);
        assert_false(a1_len == b1_len && memcmp(a1, b1, a1_len) == 0);

        assert_int_equal(unlink(b), 0);
        rebuilt = disk(f.s, layers[1]);
        assert_string_equal(rebuilt, b);
        b2 = slurp(rebuilt, &b2_len);
        assert_int_equal(b2_len, b1_len);
        assert_true(b2_len > 1028 && memcmp(b2 + 1024, "\xe2\xe1\xf5\xe0", 4) == 0);

        out = path_of("%s/extracted", f.base);
        cmd = path_of("/usr/bin/fsck.erofs --extract=%s %s >/dev/null 2>&1", out, rebuilt);
        assert_int_equal(system(cmd), 0);
        file = path_of("%s/d/c", out);
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_mtime, 1700000000);
        img_release(f.s, f.id2, "c2");
}

static void expect_einval(char *layer_dir)
{
        _cleanup_free_ char *owned = layer_dir;
        struct uvm_error *err = NULL;
        char *path = NULL;

        assert_int_equal(img_layer_disk(f.s, layer_dir, &path, &err), -EINVAL);
        assert_null(path);
        assert_non_null(err);
        assert_int_equal(err->code, EINVAL);
        assert_non_null(err->msg);
        assert_non_null(strstr(err->msg, layer_dir));
        uvm_error_free(err);
}

/* Only <root>/layers/<64 lowercase hex> is taken; nothing else is touched. */
static void disk_rejects_foreign_paths(void **state)
{
        const char *r = f.root, *a = f.diff_a + strlen("sha256:");

        if (!have_mkfs())
                skip();
        expect_einval(path_of("/tmp"));
        expect_einval(path_of("%s", ""));
        expect_einval(path_of("layers/%s", a));
        expect_einval(path_of("%s/layers/../x", r));
        expect_einval(path_of("%s/layers/0123abcd", r));
        expect_einval(path_of("%s/layers/%s/../%s", r, a, a));
        expect_einval(path_of("%s/layers/%s/", r, a));
        expect_einval(path_of("%s/layers/%.63s", r, a));
        expect_einval(path_of("%s/layers/%sa", r, a));
        expect_einval(path_of("%s/layers/0123456789ABCDEF%.48s", r, UNKNOWN_HEX));
        expect_einval(path_of("%s/blobs/sha256/%s", r, a));
        expect_einval(path_of("%s/layersx/%s", r, a));
        expect_einval(path_of("%s2/layers/%s", r, a)); /* a sibling named like the root */
        assert_int_equal(entries(f.root, "disks"), 0);
        assert_int_equal(entries(f.root, "tmp"), 0);
}

/* Well-formed but not there (never pulled, or removed): an error, no disk. */
static void disk_of_missing_layer_fails(void **state)
{
        struct uvm_error *err = NULL;
        _cleanup_free_ char *p = NULL;
        char *path = NULL;
        int r;

        if (!have_mkfs())
                skip();
        p = path_of("%s/layers/%s", f.root, UNKNOWN_HEX);
        r = img_layer_disk(f.s, p, &path, &err);
        assert_int_equal(r, -ENOENT);
        assert_non_null(strstr(err->msg, "is not in the image store"));
        assert_null(path);
        assert_non_null(err);
        assert_int_equal(-err->code, r);
        assert_non_null(err->msg);
        uvm_error_free(err);
        assert_int_equal(entries(f.root, "disks"), 0);
        assert_int_equal(entries(f.root, "tmp"), 0);
}

static uint64_t allocated(const char *path)
{
        struct stat st;

        assert_int_equal(stat(path, &st), 0);
        return (uint64_t) st.st_blocks * 512;
}

static void fs_usage_of(struct img_fs_usage *u)
{
        struct uvm_error *err = NULL;

        assert_int_equal(img_fs_usage(f.s, u, &err), 0);
        assert_string_equal(u->mountpoint, f.root);
        free(u->mountpoint);
}

static void remove_image(const char *id)
{
        struct uvm_error *err = NULL;

        assert_int_equal(img_remove(f.s, id, &err), 0);
        assert_null(err);
}

/* A disk lives as long as some image has its layer; ImageFsInfo counts it. */
static void disks_go_with_last_image(void **state)
{
        _cleanup_strv_ char **l1 = NULL, **l2 = NULL;
        _cleanup_free_ char *a1 = NULL, *a2 = NULL, *b = NULL;
        struct img_fs_usage before = {0}, after = {0};
        struct uvm_error *err = NULL;

        if (!have_mkfs())
                skip();
        fs_usage_of(&before);
        l1 = use(f.id1, "c1");
        l2 = use(f.id2, "c2");
        a1 = disk(f.s, l1[0]);
        a2 = disk(f.s, l2[0]);
        b = disk(f.s, l2[1]);
        assert_string_equal(a1, a2); /* the shared layer has one disk */
        assert_int_equal(entries(f.root, "disks"), 2);
        fs_usage_of(&after);
        assert_true(after.used_bytes >= before.used_bytes + allocated(a1) + allocated(b));
        assert_true(after.inodes_used >= before.inodes_used + 2); /* two disks */

        assert_int_equal(img_remove(f.s, f.id1, &err), -EBUSY);
        uvm_error_free(TAKE_PTR(err));
        img_release(f.s, f.id1, "c1");
        img_release(f.s, f.id2, "c2");
        remove_image(f.id1);
        assert_int_equal(access(a1, F_OK), 0); /* disk/two:1 still has layer A */
        assert_int_equal(access(b, F_OK), 0);
        assert_int_equal(access(l1[0], F_OK), 0);
        assert_int_equal(entries(f.root, "disks"), 2);

        remove_image(f.id2);
        assert_int_equal(access(a1, F_OK), -1);
        assert_int_equal(access(b, F_OK), -1);
        assert_int_equal(entries(f.root, "disks"), 0);
        assert_int_equal(entries(f.root, "layers"), 0);
        assert_int_equal(entries(f.root, "blobs/sha256"), 0);
}

/* A store opening collects disks of layers no image has, keeps the rest. */
static void orphan_disks_collected_at_open(void **state)
{
        _cleanup_strv_ char **layers = NULL;
        _cleanup_free_ char *a = NULL;
        _cleanup_free_ char *orphan = NULL, *junk = NULL;

        if (!have_mkfs())
                skip();
        layers = use(f.id1, "c1");
        a = disk(f.s, layers[0]);
        img_release(f.s, f.id1, "c1");
        orphan = path_of("%s/disks/%s.erofs", f.root, UNKNOWN_HEX);
        junk = path_of("%s/disks/%s.img", f.root, f.diff_a + 7);
        assert_int_equal(fs_write_atomic(orphan, "x", 1, 0600), 0);
        assert_int_equal(fs_write_atomic(junk, "x", 1, 0600), 0);
        img_store_free(f.s);
        f.s = NULL;

        assert_int_equal(img_store_new(&(struct img_options){.root = f.root}, &f.s, NULL), 0);
        assert_int_equal(access(a, F_OK), 0);
        assert_int_equal(access(orphan, F_OK), -1);
        assert_int_equal(access(junk, F_OK), -1);
        assert_int_equal(entries(f.root, "disks"), 1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(disk_made_once, setup, teardown),
                cmocka_unit_test_setup_teardown(disk_rebuilt_keeps_mtimes, setup, teardown),
                cmocka_unit_test_setup_teardown(disk_rejects_foreign_paths, setup, teardown),
                cmocka_unit_test_setup_teardown(disk_of_missing_layer_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(disks_go_with_last_image, setup, teardown),
                cmocka_unit_test_setup_teardown(orphan_disks_collected_at_open, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
