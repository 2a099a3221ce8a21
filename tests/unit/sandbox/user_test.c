/* A container's user from the CRI security context and the image's own
 * /etc/passwd and /etc/group, read from layer directories made here. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "sandbox/user.h"

static char base[64], top[96];
static char *layers[] = {base, top, NULL};

static void put(const char *layer, const char *rel, const char *text)
{
        char path[256];

        snprintf(path, sizeof(path), "%s/%s", layer, rel);
        assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644), 0);
}

static int setup(void **state)
{
        char etc[128];

        snprintf(base, sizeof(base), "/tmp/uvmd-user-XXXXXX");
        assert_non_null(mkdtemp(base));
        snprintf(top, sizeof(top), "%s/top", base);
        snprintf(etc, sizeof(etc), "%s/etc", base);
        mkdir(etc, 0755);
        snprintf(etc, sizeof(etc), "%s/etc", top);
        mkdir(top, 0755);
        mkdir(etc, 0755);
        put(base, "etc/passwd", "root:x:0:0::/root:/bin/sh\nold:x:5:5::/:/bin/sh\n");
        /* The top layer's files win. */
        put(top, "etc/passwd",
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n"
            "broken line\nneg:x:-1:0::/:/bin/sh\n");
        put(top, "etc/group", "root:x:0:\nwheel:x:10:app,other\nstaff:x:50:app\napp:x:1001:\n");
        return 0;
}

static int teardown(void **state)
{
        fs_rm_rf(base);
        return 0;
}

static void resolve_ok(const Runtime__V1__LinuxContainerSecurityContext *sc, const char *img,
                       unsigned uid, unsigned gid, const unsigned *groups, size_t n)
{
        struct uvm_error *err = NULL;
        struct ctr_user u;

        if (ctr_user_resolve(sc, img, layers, &u, &err) < 0)
                fail_msg("resolve: %s", err->msg);
        assert_int_equal(u.uid, uid);
        assert_int_equal(u.gid, gid);
        assert_int_equal(u.n_groups, n);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(u.groups[i], groups[i]);
}

static void resolve_bad(const Runtime__V1__LinuxContainerSecurityContext *sc, const char *img,
                        const char *needle)
{
        struct uvm_error *err = NULL;
        struct ctr_user u;

        assert_int_equal(ctr_user_resolve(sc, img, layers, &u, &err), -EINVAL);
        if (!strstr(err->msg, needle))
                fail_msg("'%s' lacks '%s'", err->msg, needle);
        uvm_error_free(err);
}

static void test_image_user(void **state)
{
        resolve_ok(NULL, NULL, 0, 0, (unsigned[]){0}, 1);
        resolve_ok(NULL, "app", 1000, 1001, (unsigned[]){1001, 10, 50}, 3);
        resolve_ok(NULL, "1000", 1000, 1001, (unsigned[]){1001, 10, 50}, 3);
        resolve_ok(NULL, "1000:7", 1000, 7, (unsigned[]){7, 10, 50}, 3);
        resolve_ok(NULL, "app:wheel", 1000, 10, (unsigned[]){10, 50}, 2);
        resolve_ok(NULL, "4242", 4242, 0, (unsigned[]){0}, 1);      /* no entry: gid 0 */
        resolve_bad(NULL, "old", "not in the image's /etc/passwd"); /* only a lower layer has it */
        resolve_bad(NULL, "app:nogroup", "not in the image's /etc/group");
        resolve_bad(NULL, "neg", "not in the image's /etc/passwd");
}

static void test_request_user(void **state)
{
        Runtime__V1__LinuxContainerSecurityContext sc =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        Runtime__V1__Int64Value uid = RUNTIME__V1__INT64_VALUE__INIT,
                                gid = RUNTIME__V1__INT64_VALUE__INIT;
        int64_t sup[] = {3000, 10};

        uid.value = 1000;
        sc.run_as_user = &uid;
        resolve_ok(&sc, "root", 1000, 1001, (unsigned[]){1001, 10, 50}, 3);
        gid.value = 2000;
        sc.run_as_group = &gid;
        sc.supplemental_groups = sup;
        sc.n_supplemental_groups = 2;
        resolve_ok(&sc, NULL, 1000, 2000, (unsigned[]){2000, 10, 50, 3000}, 4);
        sc.supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
        resolve_ok(&sc, NULL, 1000, 2000, (unsigned[]){2000, 3000, 10}, 3);
        sc.run_as_user = NULL;
        sc.run_as_username = "app";
        sc.supplemental_groups_policy = 0;
        resolve_ok(&sc, NULL, 1000, 2000, (unsigned[]){2000, 10, 50, 3000}, 4);
        sc.run_as_username = "ghost";
        resolve_bad(&sc, NULL, "run_as_username \"ghost\"");
        sc.run_as_username = "";
        resolve_bad(&sc, "app", "run_as_group is set without");
        sc.run_as_group = NULL;
        uid.value = -1;
        sc.run_as_user = &uid;
        resolve_bad(&sc, NULL, "run_as_user -1");
        uid.value = 0x100000000LL;
        resolve_bad(&sc, NULL, "run_as_user");
}

/* A symlink in the image never leads to the host's files. */
static void test_image_files_stay_in_the_image(void **state)
{
        char link[128], *text = NULL;

        snprintf(link, sizeof(link), "%s/etc/group", base);
        unlink(link);
        assert_int_equal(symlink("/etc/hostname", link), 0); /* absolute: the host's, if followed */
        snprintf(link, sizeof(link), "%s/etc/shadow", top);
        assert_int_equal(symlink("../../../../../../etc/passwd", link), 0);
        assert_int_equal(ctr_image_file(layers, "etc/shadow", 1 << 20, &text), 0);
        /* Resolved inside the top layer: its own passwd. */
        assert_non_null(strstr(text, "app:x:1000"));
        free(text);
        assert_int_equal(ctr_image_file((char *[]){base, NULL}, "etc/group", 4096, &text), -ENOENT);
        /* A directory where the file should be hides the lower layers' file. */
        snprintf(link, sizeof(link), "%s/etc/motd", top);
        mkdir(link, 0755);
        put(base, "etc/motd", "lower\n");
        assert_int_equal(ctr_image_file(layers, "etc/motd", 4096, &text), -ENOENT);
}

static void test_user_files_the_runtime_reads(void **state)
{
        char path[160];
        struct uvm_error *err = NULL;

        /* Regular files, a dangling link: fine. */
        assert_int_equal(ctr_image_check_user_files(layers, NULL), 0);
        /* A FIFO in the top layer hides the lower regular file: refused. */
        snprintf(path, sizeof(path), "%s/etc/group", top);
        unlink(path);
        assert_int_equal(mkfifo(path, 0644), 0);
        assert_int_equal(ctr_image_check_user_files(layers, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "/etc/group is not a regular file"));
        uvm_error_free(err);
        err = NULL;
        /* A symlink to a FIFO elsewhere in the image: refused too. */
        unlink(path);
        assert_int_equal(symlink("/etc/motd.fifo", path), 0);
        snprintf(path, sizeof(path), "%s/etc/motd.fifo", top);
        assert_int_equal(mkfifo(path, 0644), 0);
        assert_int_equal(ctr_image_check_user_files(layers, &err), -EINVAL);
        uvm_error_free(err);
        err = NULL;
        /* A symlink to a regular file in a lower layer: fine. */
        snprintf(path, sizeof(path), "%s/etc/group", top);
        unlink(path);
        assert_int_equal(symlink("/etc/group.real", path), 0);
        put(base, "etc/group.real", "root:x:0:\n");
        assert_int_equal(ctr_image_check_user_files(layers, NULL), 0);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_image_user),
                cmocka_unit_test(test_request_user),
                cmocka_unit_test(test_image_files_stay_in_the_image),
                cmocka_unit_test(test_user_files_the_runtime_reads),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
