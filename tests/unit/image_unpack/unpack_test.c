/*
 * img_unpack_layer: tarballs written here with libarchive (pax, ustar, GNU;
 * plain, gzip, zstd) are unpacked and checked on disk, and the diff id is
 * compared with the sha256 of the uncompressed tar computed here. Paths that
 * would leave the directory are refused with nothing written outside it.
 * Needs root (ownership, device nodes, trusted.* xattrs).
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "common/fs.h"
#include "image/unpack.h"

enum comp { COMP_NONE, COMP_GZIP, COMP_ZSTD };

/* One tar entry to write. type 0 means a hard link to link. */
struct tent {
        const char *path;
        mode_t type;
        mode_t perm;
        const char *data;
        const char *link; /* symlink or hard link target */
        unsigned rmaj, rmin;
        const char *xname, *xval;
        long uid, gid;
        time_t mtime;
        int acl_type; /* one named user ACL entry (pax SCHILY.acl) */
        int acl_user, acl_perm;
};

struct membuf {
        unsigned char *p;
        size_t len, cap;
};

struct fixture {
        char base[PATH_MAX - 64]; /* sentinel parent: holds only root/, blob, outside */
        char root[PATH_MAX];
        char blob[PATH_MAX];
        char outside[PATH_MAX];
};

static la_ssize_t mem_write(struct archive *a, void *userdata, const void *buf, size_t n)
{
        struct membuf *m = userdata;

        if (m->len + n > m->cap) {
                m->cap = (m->len + n) * 2;
                m->p = realloc(m->p, m->cap);
                assert_non_null(m->p);
        }
        memcpy(m->p + m->len, buf, n);
        m->len += n;
        return (la_ssize_t) n;
}

static void add_entry(struct archive *a, const struct tent *t)
{
        struct archive_entry *e = archive_entry_new();
        size_t len = t->data ? strlen(t->data) : 0;

        archive_entry_set_pathname(e, t->path);
        archive_entry_set_uid(e, t->uid);
        archive_entry_set_gid(e, t->gid);
        archive_entry_set_mtime(e, t->mtime ? t->mtime : 1700000000, 0);
        if (t->type == 0) {
                archive_entry_set_filetype(e, AE_IFREG);
                archive_entry_set_perm(e, 0644);
                archive_entry_set_hardlink(e, t->link);
                len = 0;
        } else {
                archive_entry_set_filetype(e, t->type);
                archive_entry_set_perm(e, t->perm);
        }
        if (t->type == AE_IFLNK)
                archive_entry_set_symlink(e, t->link);
        if (t->type == AE_IFCHR || t->type == AE_IFBLK) {
                archive_entry_set_rdevmajor(e, t->rmaj);
                archive_entry_set_rdevminor(e, t->rmin);
        }
        if (t->acl_type == ARCHIVE_ENTRY_ACL_TYPE_DEFAULT) {
                /* A default ACL has no mode to take its base entries from. */
                archive_entry_acl_add_entry(e, t->acl_type, 07, ARCHIVE_ENTRY_ACL_USER_OBJ, -1,
                                            NULL);
                archive_entry_acl_add_entry(e, t->acl_type, 05, ARCHIVE_ENTRY_ACL_GROUP_OBJ, -1,
                                            NULL);
                archive_entry_acl_add_entry(e, t->acl_type, 05, ARCHIVE_ENTRY_ACL_OTHER, -1, NULL);
        }
        if (t->acl_type)
                archive_entry_acl_add_entry(e, t->acl_type, t->acl_perm, ARCHIVE_ENTRY_ACL_USER,
                                            t->acl_user, NULL);
        if (t->xname)
                archive_entry_xattr_add_entry(e, t->xname, t->xval, strlen(t->xval));
        archive_entry_set_size(e, t->type == AE_IFREG ? (la_int64_t) len : 0);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (len)
                assert_int_equal(archive_write_data(a, t->data, len), (la_ssize_t) len);
        archive_entry_free(e);
}

/* The uncompressed tar, padded to libarchive's 10 KiB blocks like tar(1). */
static struct membuf make_tar(int format, const struct tent *ents, size_t n)
{
        struct archive *a = archive_write_new();
        struct membuf m = {0};

        assert_int_equal(archive_write_set_format(a, format), ARCHIVE_OK);
        assert_int_equal(archive_write_add_filter_none(a), ARCHIVE_OK);
        assert_int_equal(archive_write_open(a, &m, NULL, mem_write, NULL), ARCHIVE_OK);
        for (size_t i = 0; i < n; i++)
                add_entry(a, &ents[i]);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        return m;
}

/* Write data to path, compressed as one raw stream. */
static void write_blob(const char *path, const void *data, size_t len, enum comp c)
{
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();

        assert_int_equal(archive_write_set_format_raw(a), ARCHIVE_OK);
        if (c == COMP_GZIP)
                assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
        else if (c == COMP_ZSTD)
                assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
        else
                assert_int_equal(archive_write_add_filter_none(a), ARCHIVE_OK);
        /* No padding after the stream: the blob is exactly the data. */
        assert_int_equal(archive_write_set_bytes_in_last_block(a, 1), ARCHIVE_OK);
        assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
        archive_entry_set_pathname(e, "data");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, (la_int64_t) len);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        if (len)
                assert_int_equal(archive_write_data(a, data, len), (la_ssize_t) len);
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        archive_entry_free(e);
}

static void sha256_hex(const void *data, size_t len, char out[IMG_DIGEST_LEN + 1])
{
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int n = 0;

        assert_int_equal(EVP_Digest(data, len, md, &n, EVP_sha256(), NULL), 1);
        assert_int_equal(n, 32);
        strcpy(out, "sha256:");
        for (unsigned i = 0; i < n; i++)
                sprintf(out + 7 + 2 * i, "%02x", md[i]);
}

static int setup(void **state)
{
        struct fixture *f = calloc(1, sizeof(*f));
        const char *tmp = getenv("TEST_TMPDIR");
        int fd;

        assert_non_null(f);
        snprintf(f->base, sizeof(f->base), "%s/unpack.XXXXXX", tmp ? tmp : "/tmp");
        assert_non_null(mkdtemp(f->base));
        snprintf(f->root, sizeof(f->root), "%s/root", f->base);
        snprintf(f->blob, sizeof(f->blob), "%s/blob", f->base);
        snprintf(f->outside, sizeof(f->outside), "%s/outside", f->base);
        assert_int_equal(mkdir(f->root, 0755), 0);
        fd = open(f->outside, O_WRONLY | O_CREAT | O_EXCL, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "sentinel", 8), 8);
        close(fd);
        *state = f;
        return 0;
}

static int teardown(void **state)
{
        struct fixture *f = *state;

        fs_rm_rf(f->base);
        free(f);
        return 0;
}

/* Unpack ents written as format/c; returns the result, checks the diff id
 * on success and that ret_diff_id is untouched on failure. */
static int unpack(struct fixture *f, int format, enum comp c, const struct tent *ents, size_t n,
                  char **ret_msg)
{
        struct membuf tar = make_tar(format, ents, n);
        char want[IMG_DIGEST_LEN + 1], got[IMG_DIGEST_LEN + 1];
        struct uvm_error *err = NULL;
        int r;

        write_blob(f->blob, tar.p, tar.len, c);
        sha256_hex(tar.p, tar.len, want);
        free(tar.p);
        memset(got, 'X', sizeof(got));
        r = img_unpack_layer(f->blob, f->root, got, &err);
        if (r == 0) {
                assert_null(err);
                assert_string_equal(got, want);
        } else {
                assert_non_null(err);
                assert_int_equal(uvm_error_code(err), r);
                assert_true(got[0] == 'X' && got[IMG_DIGEST_LEN] == 'X');
        }
        if (err && !ret_msg)
                print_message("unpack failed: %s\n", err->msg);
        if (ret_msg)
                *ret_msg = err && err->msg ? strdup(err->msg) : NULL;
        uvm_error_free(err);
        unlink(f->blob);
        return r;
}

static struct stat lstat_in(struct fixture *f, const char *rel)
{
        char p[PATH_MAX * 2];
        struct stat st;

        snprintf(p, sizeof(p), "%s/%s", f->root, rel);
        if (lstat(p, &st) < 0)
                fail_msg("lstat %s: %s", p, strerror(errno));
        return st;
}

static bool exists_in(struct fixture *f, const char *rel)
{
        char p[PATH_MAX * 2];
        struct stat st;

        snprintf(p, sizeof(p), "%s/%s", f->root, rel);
        return lstat(p, &st) == 0;
}

static void check_content(struct fixture *f, const char *rel, const char *want)
{
        char p[PATH_MAX * 2];
        char *buf = NULL;
        size_t len = 0;

        snprintf(p, sizeof(p), "%s/%s", f->root, rel);
        assert_int_equal(fs_read_file(p, 4096, &buf, &len), 0);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(buf, want, len);
        free(buf);
}

static void check_xattr(struct fixture *f, const char *rel, const char *name, const char *want)
{
        char p[PATH_MAX * 2], buf[256];
        ssize_t n;

        snprintf(p, sizeof(p), "%s/%s", f->root, rel);
        n = lgetxattr(p, name, buf, sizeof(buf));
        if (!want) {
                assert_int_equal(n, -1);
                assert_int_equal(errno, ENODATA);
                return;
        }
        assert_int_equal(n, (ssize_t) strlen(want));
        assert_memory_equal(buf, want, (size_t) n);
}

/* Whether the system.posix_acl_* xattr of rel has entry {tag, id, perm}
 * (kernel format: version 2, then little-endian {u16 tag, u16 perm, u32 id}). */
static bool acl_has(struct fixture *f, const char *rel, const char *xattr, uint16_t tag,
                    uint32_t id, uint16_t perm)
{
        char p[PATH_MAX * 2];
        uint8_t buf[512];
        ssize_t n;

        snprintf(p, sizeof(p), "%s/%s", f->root, rel);
        n = lgetxattr(p, xattr, buf, sizeof(buf));
        if (n < 4 || (n - 4) % 8 != 0 || buf[0] != 2)
                return false;
        for (ssize_t i = 4; i < n; i += 8) {
                uint16_t t = (uint16_t) (buf[i] | buf[i + 1] << 8);
                uint16_t pm = (uint16_t) (buf[i + 2] | buf[i + 3] << 8);
                uint32_t q = (uint32_t) buf[i + 4] | (uint32_t) buf[i + 5] << 8 |
                             (uint32_t) buf[i + 6] << 16 | (uint32_t) buf[i + 7] << 24;
                if (t == tag && q == id && pm == perm)
                        return true;
        }
        return false;
}

/* Nothing but root/, blob (removed after unpack) and the untouched
 * sentinel file may be in the parent directory. */
static void check_nothing_outside(struct fixture *f)
{
        DIR *d = opendir(f->base);
        struct dirent *de;
        struct stat st;
        size_t n = 0;
        char *buf = NULL;
        size_t len = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                if (STR_EQ(de->d_name, ".") || STR_EQ(de->d_name, ".."))
                        continue;
                if (!STR_EQ(de->d_name, "root") && !STR_EQ(de->d_name, "outside"))
                        fail_msg("unexpected '%s' next to the layer directory", de->d_name);
                n++;
        }
        closedir(d);
        assert_int_equal(n, 2);
        assert_int_equal(lstat(f->outside, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_nlink, 1);
        assert_int_equal(fs_read_file(f->outside, 64, &buf, &len), 0);
        assert_string_equal(buf, "sentinel");
        free(buf);
        assert_int_equal(access("/etc/x", F_OK), -1);
        assert_int_equal(access("/uvmd-unpack-abs", F_OK), -1);
}

/* ---- a full layer ---- */

static const struct tent layer[] = {
        {"./", AE_IFDIR, 0755, .mtime = 1000},
        {"dir", AE_IFDIR, 0750, .uid = 1000, .gid = 1001, .mtime = 1500000000},
        {"dir/file", AE_IFREG, 0644, "hello\n", .uid = 1000, .gid = 1001, .mtime = 1600000000},
        {"dir/link", AE_IFLNK, 0777, .link = "file", .uid = 1000, .gid = 1001, .mtime = 1600000001},
        {"dir/hard", 0, 0, .link = "dir/file"},
        {"fifo", AE_IFIFO, 0600, .uid = 5, .gid = 6},
        {"null", AE_IFCHR, 0666, .rmaj = 1, .rmin = 3},
        {"blk", AE_IFBLK, 0660, .rmaj = 7, .rmin = 1, .gid = 6},
        {"x", AE_IFDIR, 0755},
        {"x", AE_IFREG, 0644, "file now"},
        {"xattr", AE_IFREG, 0600, "x", .xname = "user.test", .xval = "value"},
        {"suid", AE_IFREG, 04755, "#!/bin/sh\n", .uid = 0, .gid = 0},
        {"dir/.wh.gone", AE_IFREG, 0644},
        {"opq/.wh..wh..opq", AE_IFREG, 0644},
        {"dir2", AE_IFDIR, 0755},
        {"dir2/.wh..wh..opq", AE_IFREG, 0644},
        {"./dot//file", AE_IFREG, 0640, "dot"},
        {"dir/.wh..wh.plnk.123", AE_IFREG, 0644},
        {"lnk2dir", AE_IFLNK, 0777, .link = "dir"},
        {"lnk2dir/via", AE_IFREG, 0644, "via"},
        {"dup", AE_IFREG, 0644, "one"},
        {"dup", AE_IFREG, 0600, "two"},
        {"ovl", AE_IFDIR, 0755, .xname = "trusted.overlay.opaque", .xval = "y"},
        {"acl", AE_IFREG, 0640, "acl", .acl_type = ARCHIVE_ENTRY_ACL_TYPE_ACCESS, .acl_user = 1234,
         .acl_perm = 04},
        {"acldir", AE_IFDIR, 0755, .acl_type = ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, .acl_user = 4321,
         .acl_perm = 07},
};

static void check_layer(struct fixture *f, bool has_xattrs)
{
        struct stat st, st2;
        char target[64];
        char p[PATH_MAX * 2];
        ssize_t n;

        st = lstat_in(f, "dir");
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0750);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_gid, 1001);
        /* Set after dir/file, dir/via and the whiteout were created in it. */
        assert_int_equal(st.st_mtime, 1500000000);

        st = lstat_in(f, "dir/file");
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0644);
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_mtime, 1600000000);
        assert_int_equal(st.st_nlink, 2);
        check_content(f, "dir/file", "hello\n");

        st2 = lstat_in(f, "dir/hard");
        assert_int_equal(st2.st_ino, st.st_ino);

        st = lstat_in(f, "dir/link");
        assert_true(S_ISLNK(st.st_mode));
        assert_int_equal(st.st_uid, 1000);
        assert_int_equal(st.st_gid, 1001);
        assert_int_equal(st.st_mtime, 1600000001);
        snprintf(p, sizeof(p), "%s/dir/link", f->root);
        n = readlink(p, target, sizeof(target));
        assert_int_equal(n, 4);
        assert_memory_equal(target, "file", 4);

        st = lstat_in(f, "fifo");
        assert_true(S_ISFIFO(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_uid, 5);
        assert_int_equal(st.st_gid, 6);

        st = lstat_in(f, "null");
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0666);
        assert_int_equal(major(st.st_rdev), 1);
        assert_int_equal(minor(st.st_rdev), 3);

        st = lstat_in(f, "blk");
        assert_true(S_ISBLK(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0660);
        assert_int_equal(st.st_gid, 6);
        assert_int_equal(st.st_rdev, makedev(7, 1));

        /* A later entry replaces an earlier one of another type. */
        check_content(f, "x", "file now");

        check_content(f, "xattr", "x");
        if (has_xattrs)
                check_xattr(f, "xattr", "user.test", "value");

        st = lstat_in(f, "suid");
        assert_int_equal(st.st_mode & 07777, 04755);
        assert_int_equal(st.st_uid, 0);

        /* Whiteouts: a 0/0 character device, mode 0; the entry itself is gone. */
        st = lstat_in(f, "dir/gone");
        assert_true(S_ISCHR(st.st_mode));
        assert_int_equal(st.st_rdev, makedev(0, 0));
        assert_int_equal(st.st_mode & 07777, 0);
        assert_false(exists_in(f, "dir/.wh.gone"));

        assert_true(S_ISDIR(lstat_in(f, "opq").st_mode));
        check_xattr(f, "opq", "trusted.overlay.opaque", "y");
        assert_false(exists_in(f, "opq/.wh..wh..opq"));
        check_xattr(f, "dir2", "trusted.overlay.opaque", "y");
        check_xattr(f, "dir", "trusted.overlay.opaque", NULL);
        assert_false(exists_in(f, "dir/.wh..wh.plnk.123"));

        check_content(f, "dot/file", "dot");
        assert_int_equal(lstat_in(f, "dot/file").st_mode & 07777, 0640);
        /* Through a symlink that stays inside: lands in dir/. */
        check_content(f, "dir/via", "via");
        assert_true(S_ISLNK(lstat_in(f, "lnk2dir").st_mode));

        check_content(f, "dup", "two");
        assert_int_equal(lstat_in(f, "dup").st_mode & 07777, 0600);
        /* overlayfs xattrs come only from whiteouts, never from the tar. */
        check_xattr(f, "ovl", "trusted.overlay.opaque", NULL);

        check_content(f, "acl", "acl");
        assert_int_equal(lstat_in(f, "acl").st_mode & 07777, 0640);
        /* Named user 1234 r--, and the mask tar left out (group r-- | r--). */
        assert_int_equal(acl_has(f, "acl", "system.posix_acl_access", 0x02, 1234, 04), has_xattrs);
        assert_int_equal(acl_has(f, "acl", "system.posix_acl_access", 0x10, UINT32_MAX, 04),
                         has_xattrs);
        assert_int_equal(acl_has(f, "acldir", "system.posix_acl_default", 0x02, 4321, 07),
                         has_xattrs);
        assert_int_equal(acl_has(f, "acldir", "system.posix_acl_default", 0x01, UINT32_MAX, 07),
                         has_xattrs);

        st = lstat_in(f, ".");
        assert_int_equal(st.st_mode & 07777, 0755);
        assert_int_equal(st.st_mtime, 1000);
        check_nothing_outside(f);
}

static void layer_pax_plain(void **state)
{
        assert_int_equal(unpack(*state, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, COMP_NONE, layer,
                                ARRAY_SIZE(layer), NULL),
                         0);
        check_layer(*state, true);
}

static void layer_pax_gzip(void **state)
{
        assert_int_equal(unpack(*state, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, COMP_GZIP, layer,
                                ARRAY_SIZE(layer), NULL),
                         0);
        check_layer(*state, true);
}

static void layer_pax_zstd(void **state)
{
        assert_int_equal(unpack(*state, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, COMP_ZSTD, layer,
                                ARRAY_SIZE(layer), NULL),
                         0);
        check_layer(*state, true);
}

/* ustar and GNU tar carry no xattrs or ACLs; "ovl" then has none to drop. */
static void layer_ustar_gzip(void **state)
{
        assert_int_equal(
                unpack(*state, ARCHIVE_FORMAT_TAR_USTAR, COMP_GZIP, layer, ARRAY_SIZE(layer), NULL),
                0);
        check_layer(*state, false);
}

static void layer_gnutar_zstd(void **state)
{
        assert_int_equal(unpack(*state, ARCHIVE_FORMAT_TAR_GNUTAR, COMP_ZSTD, layer,
                                ARRAY_SIZE(layer), NULL),
                         0);
        check_layer(*state, false);
}

static void empty_tar(void **state)
{
        struct fixture *f = *state;
        DIR *d;
        struct dirent *de;

        assert_int_equal(unpack(f, ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, COMP_GZIP, NULL, 0, NULL), 0);
        d = opendir(f->root);
        assert_non_null(d);
        while ((de = readdir(d)))
                assert_true(STR_EQ(de->d_name, ".") || STR_EQ(de->d_name, ".."));
        closedir(d);
}

/* ---- refusals ---- */

static void expect_refused(void **state, const struct tent *ents, size_t n, int code,
                           const char *name)
{
        struct fixture *f = *state;
        char *msg = NULL;

        assert_int_equal(unpack(f, ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, COMP_GZIP, ents, n, &msg),
                         code);
        assert_non_null(msg);
        if (!strstr(msg, name))
                fail_msg("message '%s' does not name '%s'", msg, name);
        free(msg);
        check_nothing_outside(f);
}

static void refuse_dotdot(void **state)
{
        static const struct tent t[] = {{"../evil", AE_IFREG, 0644, "evil"}};
        expect_refused(state, t, ARRAY_SIZE(t), -EPERM, "../evil");
}

static void refuse_absolute(void **state)
{
        static const struct tent t[] = {{"/uvmd-unpack-abs", AE_IFREG, 0644, "evil"}};
        expect_refused(state, t, ARRAY_SIZE(t), -EPERM, "/uvmd-unpack-abs");
}

static void refuse_inner_dotdot(void **state)
{
        static const struct tent t[] = {{"a", AE_IFDIR, 0755}, {"a/../../x", AE_IFREG, 0644, "x"}};
        expect_refused(state, t, ARRAY_SIZE(t), -EPERM, "a/../../x");
}

static void refuse_symlink_to_root(void **state)
{
        static const struct tent t[] = {{"l", AE_IFLNK, 0777, .link = "/"},
                                        {"l/etc/x", AE_IFREG, 0644, "evil"}};
        expect_refused(state, t, ARRAY_SIZE(t), -EPERM, "l/etc/x");
}

static void refuse_symlink_up(void **state)
{
        static const struct tent t[] = {{"l", AE_IFLNK, 0777, .link = ".."},
                                        {"l/x", AE_IFREG, 0644, "evil"}};
        expect_refused(state, t, ARRAY_SIZE(t), -EPERM, "l/x");
}

/* A symlink deeper down that climbs out of the root. */
static void refuse_symlink_deep(void **state)
{
        static const struct tent t[] = {{"a/b", AE_IFDIR, 0755},
                                        {"a/b/l", AE_IFLNK, 0777, .link = "../../.."},
                                        {"a/b/l/x", AE_IFDIR, 0755}};
        expect_refused(state, t, ARRAY_SIZE(t), -EPERM, "a/b/l/x");
}

static void refuse_hardlink_out(void **state)
{
        static const struct tent t[] = {{"h", 0, 0, .link = "../outside"}};
        expect_refused(state, t, ARRAY_SIZE(t), -EPERM, "../outside");
}

static void refuse_hardlink_via_symlink(void **state)
{
        static const struct tent t[] = {{"l", AE_IFLNK, 0777, .link = ".."},
                                        {"h", 0, 0, .link = "l/outside"}};
        expect_refused(state, t, ARRAY_SIZE(t), -EPERM, "h");
        assert_false(exists_in(*state, "h"));
}

static void refuse_empty_whiteout(void **state)
{
        static const struct tent t[] = {{"d/.wh.", AE_IFREG, 0644}};
        expect_refused(state, t, ARRAY_SIZE(t), -EINVAL, "d/.wh.");
}

static void refuse_missing_link_target(void **state)
{
        static const struct tent t[] = {{"h", 0, 0, .link = "nope"}};
        expect_refused(state, t, ARRAY_SIZE(t), -ENOENT, "nope");
}

/* Bytes after the tar's end are few but part of the diff id. */
static void short_trailer_hashed(void **state)
{
        struct fixture *f = *state;
        static const struct tent t[] = {{"f", AE_IFREG, 0644, "f"}};
        struct membuf tar = make_tar(ARCHIVE_FORMAT_TAR_USTAR, t, 1);
        size_t len = tar.len + 3000;
        unsigned char *p = calloc(1, len);
        char want[IMG_DIGEST_LEN + 1], got[IMG_DIGEST_LEN + 1];
        struct uvm_error *err = NULL;

        memcpy(p, tar.p, tar.len);
        memset(p + tar.len, 'j', 3000);
        write_blob(f->blob, p, len, COMP_GZIP);
        sha256_hex(p, len, want);
        assert_int_equal(img_unpack_layer(f->blob, f->root, got, &err), 0);
        assert_string_equal(got, want);
        check_content(f, "f", "f");
        free(p);
        free(tar.p);
}

static void refuse_long_path(void **state)
{
        static char path[PATH_MAX + 16];
        struct tent t[] = {{path, AE_IFREG, 0644, "x"}};

        for (size_t i = 0; i < PATH_MAX + 8; i += 2)
                memcpy(path + i, "a/", 2);
        path[PATH_MAX + 8] = '\0';
        path[PATH_MAX + 7] = 'z';
        expect_refused(state, t, ARRAY_SIZE(t), -ENAMETOOLONG, "a/a/a/");
}

static void refuse_not_tar(void **state)
{
        struct fixture *f = *state;
        static const char junk[] = "this is not a tar archive, not even close\n";
        char id[IMG_DIGEST_LEN + 1];
        struct uvm_error *err = NULL;

        write_blob(f->blob, junk, sizeof(junk) - 1, COMP_GZIP);
        assert_int_equal(img_unpack_layer(f->blob, f->root, id, &err), -EINVAL);
        uvm_error_free(err);
        unlink(f->blob);
        check_nothing_outside(f);
}

static void refuse_double_gzip(void **state)
{
        struct fixture *f = *state;
        static const struct tent t[] = {{"f", AE_IFREG, 0644, "f"}};
        struct membuf tar = make_tar(ARCHIVE_FORMAT_TAR_USTAR, t, 1), gz = {0};
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        char id[IMG_DIGEST_LEN + 1];
        struct uvm_error *err = NULL;

        archive_write_set_format_raw(a);
        archive_write_add_filter_gzip(a);
        archive_write_set_bytes_in_last_block(a, 1);
        assert_int_equal(archive_write_open(a, &gz, NULL, mem_write, NULL), ARCHIVE_OK);
        archive_entry_set_pathname(e, "data");
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, (la_int64_t) tar.len);
        assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        assert_int_equal(archive_write_data(a, tar.p, tar.len), (la_ssize_t) tar.len);
        archive_write_close(a);
        archive_write_free(a);
        archive_entry_free(e);
        write_blob(f->blob, gz.p, gz.len, COMP_GZIP);
        assert_int_equal(img_unpack_layer(f->blob, f->root, id, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "more than once"));
        uvm_error_free(err);
        free(tar.p);
        free(gz.p);
}

static void refuse_truncated_gzip(void **state)
{
        struct fixture *f = *state;
        struct membuf tar = make_tar(ARCHIVE_FORMAT_TAR_PAX_INTERCHANGE, layer, ARRAY_SIZE(layer));
        char id[IMG_DIGEST_LEN + 1];
        struct uvm_error *err = NULL;
        struct stat st;

        write_blob(f->blob, tar.p, tar.len, COMP_GZIP);
        free(tar.p);
        assert_int_equal(stat(f->blob, &st), 0);
        assert_int_equal(truncate(f->blob, st.st_size / 2), 0);
        assert_true(img_unpack_layer(f->blob, f->root, id, &err) < 0);
        assert_non_null(err);
        uvm_error_free(err);
}

static void refuse_long_trailer(void **state)
{
        struct fixture *f = *state;
        static const struct tent t[] = {{"f", AE_IFREG, 0644, "f"}};
        struct membuf tar = make_tar(ARCHIVE_FORMAT_TAR_USTAR, t, 1);
        size_t len = tar.len + 2 * 1024 * 1024;
        unsigned char *p = calloc(1, len);
        char id[IMG_DIGEST_LEN + 1];
        struct uvm_error *err = NULL;

        memcpy(p, tar.p, tar.len);
        memset(p + tar.len + 4096, 'j', 1024 * 1024);
        write_blob(f->blob, p, len, COMP_ZSTD);
        assert_int_equal(img_unpack_layer(f->blob, f->root, id, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "after the end"));
        uvm_error_free(err);
        free(p);
        free(tar.p);
}

/* One more than the bound, as ignored ".wh..wh." entries (nothing on disk). */
static void refuse_too_many_entries(void **state)
{
        struct fixture *f = *state;
        struct archive *a = archive_write_new();
        struct archive_entry *e = archive_entry_new();
        char id[IMG_DIGEST_LEN + 1], name[32];
        struct uvm_error *err = NULL;

        archive_write_set_format(a, ARCHIVE_FORMAT_TAR_USTAR);
        archive_write_add_filter_zstd(a);
        assert_int_equal(archive_write_open_filename(a, f->blob), ARCHIVE_OK);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_entry_set_size(e, 0);
        for (int i = 0; i <= 1000000; i++) {
                snprintf(name, sizeof(name), ".wh..wh.%d", i);
                archive_entry_set_pathname(e, name);
                assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
        }
        assert_int_equal(archive_write_close(a), ARCHIVE_OK);
        archive_write_free(a);
        archive_entry_free(e);
        assert_int_equal(img_unpack_layer(f->blob, f->root, id, &err), -E2BIG);
        assert_non_null(strstr(err->msg, "1000000 entries"));
        uvm_error_free(err);
}

/* A zero-byte blob is not a layer (an empty layer is an empty tar). */
static void refuse_empty_blob(void **state)
{
        struct fixture *f = *state;
        char id[IMG_DIGEST_LEN + 1];
        struct uvm_error *err = NULL;
        int fd = open(f->blob, O_WRONLY | O_CREAT | O_EXCL, 0644);

        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(img_unpack_layer(f->blob, f->root, id, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "Unrecognized archive format"));
        uvm_error_free(err);
        unlink(f->blob);
        check_nothing_outside(f);
}

static void missing_blob(void **state)
{
        struct fixture *f = *state;
        char id[IMG_DIGEST_LEN + 1];
        struct uvm_error *err = NULL;

        assert_int_equal(img_unpack_layer(f->blob, f->root, id, &err), -ENOENT);
        assert_non_null(strstr(err->msg, f->blob));
        uvm_error_free(err);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
        const struct CMUnitTest tests[] = {
                T(layer_pax_plain),
                T(layer_pax_gzip),
                T(layer_pax_zstd),
                T(layer_ustar_gzip),
                T(layer_gnutar_zstd),
                T(empty_tar),
                T(refuse_dotdot),
                T(refuse_absolute),
                T(refuse_inner_dotdot),
                T(refuse_symlink_to_root),
                T(refuse_symlink_up),
                T(refuse_symlink_deep),
                T(refuse_hardlink_out),
                T(refuse_hardlink_via_symlink),
                T(refuse_empty_whiteout),
                T(refuse_missing_link_target),
                T(short_trailer_hashed),
                T(refuse_long_path),
                T(refuse_not_tar),
                T(refuse_double_gzip),
                T(refuse_truncated_gzip),
                T(refuse_long_trailer),
                T(refuse_too_many_entries),
                T(refuse_empty_blob),
                T(missing_blob),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
