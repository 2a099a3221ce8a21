/* net_ready: a config installed or removed after net_new flips readiness
 * (inotify watch), without a new net object. */

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
#include "network/net.h"

static const char conflist[] =
        "{\"cniVersion\":\"1.0.0\",\"name\":\"t\",\"plugins\":[{\"type\":\"fakeplug\"}]}";

static void put(const char *path, const char *text, mode_t mode)
{
        assert_int_equal(fs_write_atomic(path, text, strlen(text), mode), 0);
}

static void flips_on_install_and_removal(void **state)
{
        char root[] = "/tmp/netready.XXXXXX", conf[256], bin[256], file[300], plug[300];
        char *bins[] = {bin, NULL};
        struct net_options o = {.conf_dir = conf, .bin_dirs = bins, .state_dir = root};
        struct uvm_error *err = NULL;
        struct net *n = NULL;
        char *msg = NULL;

        (void) state;
        assert_non_null(mkdtemp(root));
        snprintf(conf, sizeof(conf), "%s/net.d", root);
        snprintf(bin, sizeof(bin), "%s/bin", root);
        assert_int_equal(mkdir(conf, 0755), 0);
        assert_int_equal(mkdir(bin, 0755), 0);
        snprintf(plug, sizeof(plug), "%s/fakeplug", bin);
        put(plug, "#!/bin/sh\n", 0755);

        assert_int_equal(net_new(&o, &n, &err), 0);
        assert_false(net_ready(n, &msg));
        assert_non_null(msg);
        free(msg);

        snprintf(file, sizeof(file), "%s/10-t.conflist", conf);
        put(file, conflist, 0644);
        assert_true(net_ready(n, &msg));
        assert_null(msg);
        /* cached: still ready with no change */
        assert_true(net_ready(n, NULL));

        assert_int_equal(unlink(file), 0);
        assert_false(net_ready(n, NULL));

        /* the whole dir removed and re-created: the watch is re-established */
        assert_int_equal(fs_rm_rf(conf), 0);
        assert_false(net_ready(n, NULL));
        assert_int_equal(mkdir(conf, 0755), 0);
        put(file, conflist, 0644);
        assert_true(net_ready(n, NULL));
        assert_int_equal(unlink(file), 0);
        assert_false(net_ready(n, NULL));

        net_free(n);
        fs_rm_rf(root);
}

static void rejects_missing_dirs(void **state)
{
        struct net_options o = {0};
        struct uvm_error *err = NULL;
        struct net *n = NULL;

        (void) state;
        assert_int_equal(net_new(&o, &n, &err), -EINVAL);
        assert_null(n);
        assert_non_null(strstr(err->msg, "required"));
        uvm_error_free(err);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(flips_on_install_and_removal),
                cmocka_unit_test(rejects_missing_dirs),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
