/* A VM pod's 9p share for real (bind mounts: root, outside Bazel's sandbox;
 * skips without root): a container's layers and mounts bound in, its spec
 * rewritten for the guest, refusals, and a release that leaves the host's
 * data as it was. */

#include <errno.h>
#include <fcntl.h>
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

#include "common/fs.h"
#include "common/macros.h"
#include "sandbox/drivers/qemu/share.h"

static char base[] = "/tmp/share-test-XXXXXX";
static char share[128], layer[128], vol[128], file[128];

static void put(const char *path, const char *text)
{
        assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644), 0);
}

static int setup(void **state)
{
        if (geteuid() != 0)
                return 0;
        assert_non_null(mkdtemp(base));
        snprintf(share, sizeof(share), "%s/share", base);
        snprintf(layer, sizeof(layer), "%s/layer", base);
        snprintf(vol, sizeof(vol), "%s/vol", base);
        snprintf(file, sizeof(file), "%s/hosts", base);
        assert_int_equal(mkdir(share, 0755), 0);
        assert_int_equal(mkdir(layer, 0755), 0);
        assert_int_equal(mkdir(vol, 0755), 0);
        put(file, "127.0.0.1 localhost\n");
        return 0;
}

static int teardown(void **state)
{
        if (geteuid() == 0)
                fs_rm_rf(base);
        return 0;
}

static json_object *spec(const char *mounts_extra, bool privileged, bool devices)
{
        char text[4096];
        json_object *o;

        snprintf(text, sizeof(text),
                 "{\"hostname\":\"h\",\"process\":{\"apparmorProfile\":\"p\"},"
                 "\"mounts\":[{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
                 "{\"destination\":\"/vol\",\"type\":\"bind\",\"source\":\"%s\","
                 "\"options\":[\"rbind\",\"rw\"]},"
                 "{\"destination\":\"/etc/hosts\",\"type\":\"bind\",\"source\":\"%s\","
                 "\"options\":[\"rbind\",\"ro\"]}%s],"
                 "\"linux\":{\"cgroupsPath\":\"/uvmd/p/c\",%s%s\"namespaces\":["
                 "{\"type\":\"mount\"},{\"type\":\"network\"},{\"type\":\"uts\"},"
                 "{\"type\":\"ipc\"},{\"type\":\"pid\"}]}}",
                 vol, file, mounts_extra ? mounts_extra : "",
                 privileged ? "" : "\"maskedPaths\":[\"/proc/kcore\"],",
                 devices ? "\"devices\":[{\"path\":\"/dev/fuse\",\"type\":\"c\"}]," : "");
        o = json_tokener_parse(text);
        assert_non_null(o);
        return o;
}

static const char *str_at(json_object *o, const char *a, size_t i, const char *k)
{
        json_object *arr = json_object_object_get(o, a);

        return json_object_get_string(json_object_object_get(json_object_array_get_idx(arr, i), k));
}

static void test_prepare_and_release(void **state)
{
        struct qshare_pod pod = {share, true, 7};
        char *layers[] = {layer, NULL}, **guest = NULL, path[256];
        json_object *o = spec(NULL, false, false), *linux_, *nss;
        struct stat st;

        if (geteuid() != 0)
                skip();
        assert_int_equal(qshare_ctr_prepare(&pod, "c1", layers, o, &guest, NULL), 0);
        assert_string_equal(guest[0], QSHARE_GUEST "/c/c1/l0");
        assert_null(guest[1]);
        /* The mounts' sources are their copies in the share. */
        assert_string_equal(str_at(o, "mounts", 0, "source"), "proc");
        assert_string_equal(str_at(o, "mounts", 1, "source"), QSHARE_GUEST "/c/c1/m1");
        assert_string_equal(str_at(o, "mounts", 2, "source"), QSHARE_GUEST "/c/c1/m2");
        snprintf(path, sizeof(path), "%s/c/c1/m2", share);
        assert_int_equal(stat(path, &st), 0);
        assert_true(S_ISREG(st.st_mode));
        /* The guest's namespaces, its cgroup, no host name or profile. */
        linux_ = json_object_object_get(o, "linux");
        nss = json_object_object_get(linux_, "namespaces");
        assert_int_equal(json_object_array_length(nss), 3); /* mount, pid, cgroup */
        assert_string_equal(str_at(linux_, "namespaces", 1, "path"), "/proc/7/ns/pid");
        assert_string_equal(json_object_get_string(json_object_object_get(linux_, "cgroupsPath")),
                            "/pod/c1");
        assert_null(json_object_object_get(o, "hostname"));
        assert_null(
                json_object_object_get(json_object_object_get(o, "process"), "apparmorProfile"));
        /* A write through the share reaches the host's volume. */
        snprintf(path, sizeof(path), "%s/c/c1/m1/new", share);
        put(path, "x");
        snprintf(path, sizeof(path), "%s/new", vol);
        assert_int_equal(access(path, F_OK), 0);
        strv_free(guest);
        json_object_put(o);

        qshare_ctr_release(share, "c1");
        snprintf(path, sizeof(path), "%s/c/c1", share);
        assert_int_equal(access(path, F_OK), -1);
        assert_int_equal(access(file, F_OK), 0);
        snprintf(path, sizeof(path), "%s/new", vol);
        assert_int_equal(access(path, F_OK), 0); /* the host's data stays */
}

/* Layers that came as disks (NULL here) and an image volume (a bind with
 * no source, which the guest mounts from its disks): only the host mounts
 * go through the share. */
static void test_disk_layers_and_image_volume(void **state)
{
        struct qshare_pod pod = {share, false, 0};
        char **guest = (char **) 1, path[256];
        json_object *o;

        if (geteuid() != 0)
                skip();
        o = spec(",{\"destination\":\"/img\",\"type\":\"bind\",\"source\":\"\","
                 "\"options\":[\"rbind\",\"ro\"]}",
                 false, false);
        assert_int_equal(qshare_ctr_prepare(&pod, "c4", NULL, o, &guest, NULL), 0);
        assert_null(guest);
        assert_string_equal(str_at(o, "mounts", 1, "source"), QSHARE_GUEST "/c/c4/m1");
        assert_string_equal(str_at(o, "mounts", 3, "source"), "");
        snprintf(path, sizeof(path), "%s/c/c4/l0", share);
        assert_int_equal(access(path, F_OK), -1);
        json_object_put(o);
        qshare_ctr_release(share, "c4");
}

static void expect_refused(json_object *o, const char *needle)
{
        struct qshare_pod pod = {share, false, 0};
        char *layers[] = {layer, NULL}, **guest = NULL, path[256];
        struct uvm_error *err = NULL;

        assert_int_equal(qshare_ctr_prepare(&pod, "c2", layers, o, &guest, &err), -EINVAL);
        if (!strstr(err->msg, needle))
                fail_msg("'%s' lacks '%s'", err->msg, needle);
        uvm_error_free(err);
        assert_null(guest);
        snprintf(path, sizeof(path), "%s/c/c2", share);
        assert_int_equal(access(path, F_OK), -1); /* nothing left */
        json_object_put(o);
}

static void test_refusals(void **state)
{
        char extra[512];
        json_object *o;

        if (geteuid() != 0)
                skip();
        snprintf(extra, sizeof(extra),
                 ",{\"destination\":\"/shared\",\"type\":\"bind\",\"source\":\"%s\","
                 "\"options\":[\"rbind\",\"rshared\"]}",
                 vol);
        expect_refused(spec(extra, false, false), "bidirectional propagation");
        expect_refused(spec(NULL, false, true), "devices");
        /* A privileged container gets the guest's devices, not the host's. */
        o = spec(NULL, true, true);
        {
                struct qshare_pod pod = {share, false, 0};
                char *layers[] = {layer, NULL}, **guest = NULL;

                assert_int_equal(qshare_ctr_prepare(&pod, "c3", layers, o, &guest, NULL), 0);
                assert_null(json_object_object_get(json_object_object_get(o, "linux"), "devices"));
                strv_free(guest);
                qshare_release_all(share);
        }
        json_object_put(o);
        assert_int_equal(access(share, F_OK), -1);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_prepare_and_release),
                cmocka_unit_test(test_disk_layers_and_image_volume),
                cmocka_unit_test(test_refusals),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
