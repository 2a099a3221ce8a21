/* The agent's interface lookup by MAC and its bounded wait (link_wait.h),
 * on a sysfs-like directory of the test's: an interface there already is
 * found without waiting (a qemu pod's at boot); one that appears later (a
 * hot-add reaching the guest) is found once it does; FromMac's; a MAC
 * that never comes ends the wait with -ENODEV after the bound. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "agent/link_wait.h"
#include "common/fs.h"
#include "common/macros.h"

#define MAC_A "02:42:0a:58:42:02"
#define MAC_B "02:42:0a:58:42:03"
#define MAC_T "52:54:00:12:34:56" /* a template's, FromMac */

static char dir[] = "/tmp/uvmd-link-wait-XXXXXX";

static int64_t now_ms(void)
{
        struct timespec t;

        clock_gettime(CLOCK_MONOTONIC, &t);
        return (int64_t) t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* <dir>/<name>/{address,ifindex}, as sysfs has them (address first: a
 * lookup in between finds no index and goes on). No assert: threads call
 * it. */
static int try_add_link(const char *name, const char *mac, int index)
{
        char p[256], v[32];
        int r;

        snprintf(p, sizeof(p), "%s/%s", dir, name);
        r = fs_mkdir_p(p, 0755);
        snprintf(p, sizeof(p), "%s/%s/address", dir, name);
        snprintf(v, sizeof(v), "%s\n", mac);
        if (r >= 0)
                r = fs_write_atomic(p, v, strlen(v), 0644);
        snprintf(p, sizeof(p), "%s/%s/ifindex", dir, name);
        snprintf(v, sizeof(v), "%d\n", index);
        return r < 0 ? r : fs_write_atomic(p, v, strlen(v), 0644);
}

static void add_link(const char *name, const char *mac, int index)
{
        assert_int_equal(try_add_link(name, mac, index), 0);
}

static int setup(void **state)
{
        (void) state;
        strcpy(dir, "/tmp/uvmd-link-wait-XXXXXX");
        if (!mkdtemp(dir))
                return -1;
        add_link("lo", "00:00:00:00:00:00", 1);
        add_link("eth0", MAC_A, 2);
        return 0;
}

static int teardown(void **state)
{
        (void) state;
        return fs_rm_rf(dir);
}

struct later {
        const char *name, *mac;
        int index;
        unsigned delay_ms;
};

static void *appear(void *data)
{
        const struct later *l = data;
        struct timespec t = {l->delay_ms / 1000, (long) (l->delay_ms % 1000) * 1000000L};

        nanosleep(&t, NULL);
        (void) try_add_link(l->name, l->mac, l->index); /* else the wait fails */
        return NULL;
}

/* There already (a qemu pod's adapters at boot): found at once, the
 * bound not waited; upper-case MACs match too. */
static void test_present_no_wait(void **state)
{
        char name[16] = "";
        bool from = true;
        int64_t t0 = now_ms();

        (void) state;
        assert_int_equal(agent_link_wait(dir, MAC_A, NULL, 20000, name, sizeof(name), &from), 2);
        assert_string_equal(name, "eth0");
        assert_false(from);
        assert_int_equal(
                agent_link_wait(dir, "02:42:0A:58:42:02", NULL, 20000, name, sizeof(name), &from),
                2);
        assert_true(now_ms() - t0 < 10000); /* not the 20 s bound */
        assert_int_equal(agent_link_by_mac(dir, MAC_B, name, sizeof(name)), -ENODEV);
}

/* A hot-added adapter that shows up after a while: found once it does. */
static void test_appears_later(void **state)
{
        struct later l = {"eth1", MAC_B, 3, 300};
        char name[16] = "";
        bool from = true;
        pthread_t t;

        (void) state;
        assert_int_equal(agent_link_by_mac(dir, MAC_B, name, sizeof(name)), -ENODEV);
        assert_int_equal(pthread_create(&t, NULL, appear, &l), 0);
        assert_int_equal(agent_link_wait(dir, MAC_B, NULL, 20000, name, sizeof(name), &from), 3);
        pthread_join(t, NULL);
        assert_string_equal(name, "eth1");
        assert_false(from);
}

/* A clone's adapter comes with its template's MAC: found by FromMac. */
static void test_from_mac(void **state)
{
        struct later l = {"eth1", MAC_T, 4, 200};
        char name[16] = "";
        bool from = false;
        pthread_t t;

        (void) state;
        assert_int_equal(pthread_create(&t, NULL, appear, &l), 0);
        assert_int_equal(agent_link_wait(dir, MAC_B, MAC_T, 20000, name, sizeof(name), &from), 4);
        pthread_join(t, NULL);
        assert_true(from);
        /* Mac wins over FromMac when both are there. */
        add_link("eth2", MAC_B, 5);
        assert_int_equal(agent_link_wait(dir, MAC_B, MAC_T, 0, name, sizeof(name), &from), 5);
        assert_false(from);
}

/* Never there: -ENODEV once the wait is over, not before; 0 looks once. */
static void test_bound(void **state)
{
        char name[16] = "";
        bool from;
        int64_t t0 = now_ms();

        (void) state;
        assert_int_equal(agent_link_wait(dir, MAC_B, NULL, 200, name, sizeof(name), &from),
                         -ENODEV);
        assert_true(now_ms() - t0 >= 200);
        assert_int_equal(agent_link_wait(dir, MAC_B, NULL, 0, name, sizeof(name), &from), -ENODEV);
        /* A directory that is not there (no sysfs): none, no crash. */
        assert_int_equal(agent_link_by_mac("/nonexistent/net", MAC_A, name, sizeof(name)), -ENODEV);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_present_no_wait, setup, teardown),
                cmocka_unit_test_setup_teardown(test_appears_later, setup, teardown),
                cmocka_unit_test_setup_teardown(test_from_mac, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bound, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
