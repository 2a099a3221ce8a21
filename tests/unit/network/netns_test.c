/* Network namespaces for real (needs root): create, loopback up inside,
 * validity, idempotent removal, no leaks over many cycles. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fs.h"
#include "network/netns.h"

static char root[] = "/tmp/netns_test.XXXXXX";

static int setup(void **state)
{
        (void) state;
        if (geteuid() != 0)
                return 0;
        return mkdtemp(root) ? 0 : -1;
}

static int teardown(void **state)
{
        (void) state;
        if (geteuid() == 0)
                fs_rm_rf(root);
        return 0;
}

static void need_root(void)
{
        if (geteuid() != 0)
                skip();
}

static void path_of(char *buf, size_t len, const char *name)
{
        snprintf(buf, len, "%s/%s", root, name);
}

/* Flags of interface name in the calling thread's namespace, or -errno. */
static int if_flags(const char *name)
{
        int sk = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r;
        struct ifreq ifr = {0};

        if (sk < 0)
                return -errno;
        snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
        r = ioctl(sk, SIOCGIFFLAGS, &ifr) < 0 ? -errno : ifr.ifr_flags;
        close(sk);
        return r;
}

struct probe {
        int lo_flags;
        int eth0;
        int n_links;
};

static int count_links(void)
{
        struct if_nameindex *ix = if_nameindex(), *p;
        int n = 0;

        if (!ix)
                return -errno;
        for (p = ix; p->if_index; p++)
                n++;
        if_freenameindex(ix);
        return n;
}

static int probe_fn(void *data)
{
        struct probe *p = data;

        p->lo_flags = if_flags("lo");
        p->eth0 = if_flags("eth0");
        p->n_links = count_links();
        return 7;
}

static void create_lo_up_valid_remove(void **state)
{
        struct uvm_error *err = NULL;
        struct probe p = {0};
        char ns[256];
        struct stat st;

        (void) state;
        need_root();
        path_of(ns, sizeof(ns), "a");
        assert_int_equal(netns_create(ns, &err), 0);
        assert_null(err);
        assert_true(netns_is_valid(ns));

        /* fn's return value comes back; inside, only lo exists and it is up */
        assert_int_equal(netns_run(ns, probe_fn, &p, &err), 7);
        assert_null(err);
        assert_true(p.lo_flags > 0);
        assert_true(p.lo_flags & IFF_UP);
        assert_int_equal(p.eth0, -ENODEV);
        assert_int_equal(p.n_links, 1);

        assert_int_equal(netns_remove(ns, &err), 0);
        assert_false(netns_is_valid(ns));
        assert_int_equal(stat(ns, &st), -1);
        assert_int_equal(errno, ENOENT);
        /* idempotent */
        assert_int_equal(netns_remove(ns, &err), 0);
        assert_null(err);
}

static void plain_file_is_not_valid(void **state)
{
        struct uvm_error *err = NULL;
        struct probe p = {0};
        char f[256];

        (void) state;
        need_root();
        path_of(f, sizeof(f), "plain");
        assert_int_equal(fs_write_atomic(f, "x", 1, 0644), 0);
        assert_false(netns_is_valid(f));
        assert_false(netns_is_valid("/proc/self/ns/mnt"));
        assert_true(netns_is_valid("/proc/self/ns/net"));
        assert_int_equal(netns_run(f, probe_fn, &p, &err), -ENOENT);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, "not a network namespace"));
        uvm_error_free(err);
        unlink(f);
}

static void create_over_existing_fails_cleanly(void **state)
{
        struct uvm_error *err = NULL;
        char f[256], buf[8] = {0};
        int fd;

        (void) state;
        need_root();
        path_of(f, sizeof(f), "exists");
        assert_int_equal(fs_write_atomic(f, "keep", 4, 0644), 0);
        assert_int_equal(netns_create(f, &err), -EEXIST);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, f));
        uvm_error_free(err);
        err = NULL;
        /* the existing file is untouched and not mounted over */
        assert_false(netns_is_valid(f));
        fd = open(f, O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(read(fd, buf, sizeof(buf) - 1), 4);
        assert_string_equal(buf, "keep");
        close(fd);

        /* a second create on a live namespace fails too and keeps it */
        path_of(f, sizeof(f), "live");
        assert_int_equal(netns_create(f, &err), 0);
        assert_int_equal(netns_create(f, &err), -EEXIST);
        uvm_error_free(err);
        assert_true(netns_is_valid(f));
        assert_int_equal(netns_remove(f, NULL), 0);
}

static void create_in_missing_dir_fails(void **state)
{
        struct uvm_error *err = NULL;
        char f[256];

        (void) state;
        need_root();
        path_of(f, sizeof(f), "nodir/ns");
        assert_int_equal(netns_create(f, &err), -ENOENT);
        assert_non_null(err);
        uvm_error_free(err);
        assert_int_equal(netns_create("", NULL), -EINVAL);
        assert_int_equal(netns_remove(NULL, NULL), -EINVAL);
}

static int count_fds(void)
{
        DIR *d = opendir("/proc/self/fd");
        int n = 0;

        assert_non_null(d);
        while (readdir(d))
                n++;
        closedir(d);
        return n;
}

static int count_mounts_of(const char *prefix)
{
        char *text = NULL, *p;
        int n = 0;

        assert_int_equal(fs_read_file("/proc/self/mountinfo", 1 << 22, &text, NULL), 0);
        for (p = text; (p = strstr(p, prefix)); p++)
                n++;
        free(text);
        return n;
}

static void no_leaks_over_cycles(void **state)
{
        struct uvm_error *err = NULL;
        int fds, mounts;
        char ns[256];

        (void) state;
        need_root();
        path_of(ns, sizeof(ns), "cycle");
        fds = count_fds();
        mounts = count_mounts_of(root);
        for (int i = 0; i < 50; i++) {
                struct probe p = {0};
                assert_int_equal(netns_create(ns, &err), 0);
                assert_int_equal(netns_run(ns, probe_fn, &p, &err), 7);
                assert_true(p.lo_flags & IFF_UP);
                assert_int_equal(netns_remove(ns, &err), 0);
        }
        assert_null(err);
        assert_int_equal(count_fds(), fds);
        assert_int_equal(count_mounts_of(root), mounts);
        assert_false(netns_is_valid(ns));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(create_lo_up_valid_remove),
                cmocka_unit_test(plain_file_is_not_valid),
                cmocka_unit_test(create_over_existing_fails_cleanly),
                cmocka_unit_test(create_in_missing_dir_fails),
                cmocka_unit_test(no_leaks_over_cycles),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
