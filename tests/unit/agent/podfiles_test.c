/* The agent's PodFiles settings (agent/podfiles.h): the three files
 * written, replaced, and nothing written for bad settings. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/podfiles.h"
#include "common/fs.h"

static char root[64];

static int setup(void **state)
{
        snprintf(root, sizeof(root), "/tmp/podfiles.XXXXXX");
        assert_non_null(mkdtemp(root));
        return 0;
}

static int teardown(void **state)
{
        fs_rm_rf(root);
        return 0;
}

static char *slurp(const char *dir, const char *name)
{
        char path[256];
        char *buf = NULL;
        size_t len = 0;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(fs_read_file(path, 65536, &buf, &len), 0);
        return buf;
}

static json_object *settings(const char *resolv, const char *hosts, const char *hostname)
{
        json_object *s = json_object_new_object();

        if (resolv)
                json_object_object_add(s, "ResolvConf", json_object_new_string(resolv));
        if (hosts)
                json_object_object_add(s, "Hosts", json_object_new_string(hosts));
        if (hostname)
                json_object_object_add(s, "Hostname", json_object_new_string(hostname));
        return s;
}

static void writes_and_replaces(void **state)
{
        char dir[128], *t;
        struct uvm_error *e = NULL;
        json_object *s = settings("nameserver 10.96.0.10\n", "127.0.0.1\tlocalhost\n", "web\n");
        struct stat st;

        snprintf(dir, sizeof(dir), "%s/run/uvmd/pod", root);
        assert_int_equal(agent_podfiles_apply(s, dir, &e), 0);
        json_object_put(s);
        t = slurp(dir, "resolv.conf");
        assert_string_equal(t, "nameserver 10.96.0.10\n");
        free(t);
        t = slurp(dir, "hosts");
        assert_string_equal(t, "127.0.0.1\tlocalhost\n");
        free(t);
        t = slurp(dir, "hostname");
        assert_string_equal(t, "web\n");
        free(t);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0755);

        /* Again (a reattach): replaced, an empty resolv.conf is a valid one. */
        s = settings("", "127.0.0.1\tlocalhost\n10.1.2.3\tweb\n", "web\n");
        assert_int_equal(agent_podfiles_apply(s, dir, &e), 0);
        json_object_put(s);
        t = slurp(dir, "resolv.conf");
        assert_string_equal(t, "");
        free(t);
        t = slurp(dir, "hosts");
        assert_string_equal(t, "127.0.0.1\tlocalhost\n10.1.2.3\tweb\n");
        free(t);
}

static void refuses(void **state)
{
        char dir[128], *big = malloc(AGENT_POD_FILES_MAX + 2);
        json_object *bad[4];
        struct uvm_error *e = NULL;

        snprintf(dir, sizeof(dir), "%s/pod", root);
        memset(big, 'a', AGENT_POD_FILES_MAX + 1);
        big[AGENT_POD_FILES_MAX + 1] = '\0';
        bad[0] = settings(NULL, "h", "n");
        bad[1] = settings("r", "h", NULL);
        bad[2] = settings("r", big, "n");
        bad[3] = settings("r", "h", "n");
        json_object_object_add(bad[3], "Hosts", json_object_new_string_len("a\0b", 3));
        for (size_t i = 0; i < 4; i++) {
                assert_int_equal(agent_podfiles_apply(bad[i], dir, &e), -EINVAL);
                assert_non_null(strstr(e->msg, "PodFiles"));
                uvm_error_free(e);
                e = NULL;
                json_object_put(bad[i]);
        }
        /* nothing was made */
        assert_int_equal(access(dir, F_OK), -1);
        free(big);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(writes_and_replaces, setup, teardown),
                cmocka_unit_test_setup_teardown(refuses, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
