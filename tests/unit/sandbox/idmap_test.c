/* Id mappings: the checks, the kernel's format, JSON; and a pinned user
 * namespace for real where we are root. */

#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "sandbox/idmap.h"

static void want_check(const struct idmap *m, const char *want)
{
        struct uvm_error *err = NULL;
        int r = idmap_check("uids", m, &err);

        if (!want) {
                if (r < 0)
                        fail_msg("refused: %s", err->msg);
                return;
        }
        assert_int_equal(r, -EINVAL);
        if (!strstr(err->msg, want))
                fail_msg("'%s' lacks '%s'", err->msg, want);
        uvm_error_free(err);
}

static void test_check(void **state)
{
        struct idmap m = {2, {{65536, 0, 1000}, {70000, 1000, 64536}}};

        want_check(&m, NULL);
        want_check(&(struct idmap){0}, "0 ranges");
        want_check(&(struct idmap){IDMAP_MAX + 1}, "need 1 to 8");
        want_check(&(struct idmap){1, {{65536, 0, 0}}}, "length is 0");
        want_check(&(struct idmap){1, {{0xFFFFFF00u, 0, 0x100}}}, "passes 2^32-1");
        want_check(&(struct idmap){1, {{65536, 0xFFFFFFF0u, 0x10}}}, "passes 2^32-1");
        want_check(&(struct idmap){1, {{0, 0, 65536}}}, "host id 0");
        want_check(&(struct idmap){2, {{65536, 0, 100}, {65600, 200, 100}}},
                   "uids[1] overlaps uids[0]");
        want_check(&(struct idmap){2, {{65536, 0, 100}, {75536, 50, 100}}},
                   "uids[1] overlaps uids[0]");
        want_check(&(struct idmap){1, {{65536, 1, 100}}}, "container id 0 is not mapped");
}

static void test_lookup_format_json(void **state)
{
        struct idmap m = {2, {{65536, 0, 1000}, {70000, 1000, 10}}}, back;
        const char *why = NULL;
        char buf[64], small[10];
        json_object *o;

        assert_int_equal(idmap_to_host(&m, 0), 65536);
        assert_int_equal(idmap_to_host(&m, 999), 66535);
        assert_int_equal(idmap_to_host(&m, 1009), 70009);
        assert_int_equal(idmap_to_host(&m, 1010), -1);
        assert_true(idmap_format(&m, buf, sizeof(buf)) > 0);
        assert_string_equal(buf, "0 65536 1000\n1000 70000 10\n");
        assert_int_equal(idmap_format(&m, small, sizeof(small)), -E2BIG);
        o = idmap_to_json(&m);
        assert_string_equal(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
                            "[[65536,0,1000],[70000,1000,10]]");
        assert_int_equal(idmap_from_json(o, &back, &why), 0);
        assert_true(idmap_equal(&m, &back));
        back.r[1].len = 11;
        assert_false(idmap_equal(&m, &back));
        json_object_put(o);
        o = json_tokener_parse("[[1,2]]");
        assert_int_equal(idmap_from_json(o, &back, &why), -EINVAL);
        assert_non_null(strstr(why, "[host, container, length]"));
        json_object_put(o);
        o = json_tokener_parse("[[1,2,4294967296]]");
        assert_int_equal(idmap_from_json(o, &back, &why), -EINVAL);
        json_object_put(o);
        o = json_tokener_parse("{}");
        assert_int_equal(idmap_from_json(o, &back, &why), -EINVAL);
        json_object_put(o);
}

/* What a process joining the namespace at path reads in its uid_map. */
static void uid_map_of(const char *path, char *buf, size_t len)
{
        int p[2];
        pid_t pid;
        ssize_t n;

        assert_int_equal(pipe(p), 0);
        pid = fork();
        if (pid == 0) {
                int fd = open(path, O_RDONLY), m;
                char b[256];

                if (fd < 0 || setns(fd, CLONE_NEWUSER) < 0)
                        _exit(1);
                m = open("/proc/self/uid_map", O_RDONLY);
                n = m < 0 ? -1 : read(m, b, sizeof(b));
                if (n <= 0 || write(p[1], b, (size_t) n) != n)
                        _exit(1);
                _exit(0);
        }
        close(p[1]);
        n = read(p[0], buf, len - 1);
        close(p[0]);
        waitpid(pid, NULL, 0);
        buf[n > 0 ? n : 0] = '\0';
}

static void test_pin(void **state)
{
        struct userns_map m = {.uids = {1, {{196608, 0, 65536}}},
                               .gids = {1, {{196608, 0, 65536}}}};
        char dir[] = "/tmp/idmap-test-XXXXXX", path[64], map[256];
        struct uvm_error *err = NULL;
        int fd;

        if (geteuid() != 0)
                skip();
        assert_non_null(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/userns", dir);
        assert_int_equal(userns_pin(path, &m, &err), 0);
        fd = open(path, O_RDONLY);
        assert_true(fd >= 0);
        assert_int_equal(ioctl(fd, NS_GET_NSTYPE), CLONE_NEWUSER);
        close(fd);
        uid_map_of(path, map, sizeof(map));
        /* Seen from inside: container 0 is host 196608. */
        assert_int_equal(strncmp(map + strspn(map, " "), "0", 1), 0);
        assert_non_null(strstr(map, "196608"));
        /* A second pin on the same path fails and leaves the first. */
        assert_int_equal(userns_pin(path, &m, &err), -EEXIST);
        uvm_error_free(err);
        err = NULL;
        assert_int_equal(userns_unpin(path, NULL), 0);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(userns_unpin(path, NULL), 0); /* idempotent */
        /* The kernel refuses a map the checks would: nothing is left. */
        m.gids.r[0].len = 0;
        assert_true(userns_pin(path, &m, &err) < 0);
        uvm_error_free(err);
        assert_int_equal(access(path, F_OK), -1);
        fs_rm_rf(dir);
}

static void test_probe(void **state)
{
        char why[160] = "";

        if (geteuid() != 0)
                skip();
        if (!userns_probe("/tmp", why, sizeof(why)))
                fail_msg("user namespaces do not work here: %s", why);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_lookup_format_json),
                cmocka_unit_test(test_pin),
                cmocka_unit_test(test_probe),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
