/* The Windows image store shared by processes (store_win.c's index.lock),
 * under Wine: two store handles on one root see each other's records and
 * never write back a stale images.json; a commit waits while another
 * process (this test run again as a child) holds the lock; images.json
 * stays whole and exact under two stores' concurrent commits and
 * removals; one store's collection spares another's pull in progress
 * (ingest.lock). */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <cmocka.h>
#include <windows.h>

#include "common/error.h"
#include "common/macros.h"
#include "common/platform.h"
#include "image/image.h"
#include "image/store_index.h"
#include "image/store_win-internal.h"

#define ROUNDS 24 /* records per store in the concurrent test */

static char *root;

static int setup(void **state)
{
        (void) state;
        return plat_mkdtemp("uvmd-store-lock-", &root);
}

static int teardown(void **state)
{
        (void) state;
        (void) plat_rm_rf(root);
        free(root);
        root = NULL;
        return 0;
}

static struct img_store *store(void)
{
        struct img_options o = {.root = root, .pull_timeout_ms = 1000};
        struct uvm_error *err = NULL;
        struct img_store *s = NULL;

        if (img_store_new(&o, &s, &err) < 0)
                fail_msg("store: %s", err->msg);
        return s;
}

/* Record n (its id's last digits n + 1), tag "x/img<n>:1", one layer.
 * The calls here assert nothing: threads run them. */
static struct img_idx_rec *rec(unsigned n)
{
        char hex[65], text[1024];
        struct img_idx_rec *l = NULL;
        struct uvm_error *err = NULL;

        snprintf(hex, sizeof(hex), "%064x", n + 1);
        snprintf(text, sizeof(text),
                 "{\"images\":[{\"id\":\"sha256:%s\",\"manifest\":\"sha256:%s\",\"size\":1,"
                 "\"tags\":[\"docker.io/x/img%u:1\"],\"digests\":[],\"layers\":"
                 "[{\"digest\":\"sha256:%s\",\"chain\":\"sha256:%s\",\"size\":1}]}]}",
                 hex, hex, n, hex, hex);
        if (img_idx_parse(text, &l, &err) < 0)
                uvm_error_free(err);
        return l;
}

/* A pull's end: its record committed while it ingests. */
static int try_commit(struct img_store *s, unsigned n)
{
        struct img_idx_rec *r = rec(n);
        struct uvm_error *err = NULL;
        int ret;

        if (!r)
                return -EINVAL;
        imgw_ingest_begin(s);
        ret = imgw_commit(s, r, &err);
        imgw_ingest_end(s, false);
        if (ret < 0)
                print_error("commit %u: %s\n", n, err->msg);
        uvm_error_free(err);
        return ret;
}

static int try_remove(struct img_store *s, unsigned n)
{
        struct uvm_error *err = NULL;
        char ref[64];
        int r;

        snprintf(ref, sizeof(ref), "x/img%u:1", n);
        r = img_remove(s, ref, &err);
        if (r < 0)
                print_error("remove %u: %s\n", n, err->msg);
        uvm_error_free(err);
        return r;
}

static void commit(struct img_store *s, unsigned n)
{
        assert_int_equal(try_commit(s, n), 0);
}

static void remove_rec(struct img_store *s, unsigned n)
{
        assert_int_equal(try_remove(s, n), 0);
}

/* Whether store s knows record n (a lookup through the store, not the file). */
static bool knows(struct img_store *s, unsigned n)
{
        struct uvm_error *err = NULL;
        char ref[64], *id = NULL;
        int r;

        snprintf(ref, sizeof(ref), "x/img%u:1", n);
        r = img_hold(s, ref, "probe", &id, &err);
        uvm_error_free(err);
        if (r < 0)
                return false;
        img_release(s, id, "probe");
        free(id);
        return true;
}

/* images.json parsed: how many records (-1: not whole), and which, as a
 * bitmap of n. */
static int try_on_disk(uint64_t *ret_bits)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        struct img_idx_rec *l = NULL;
        struct uvm_error *err = NULL;
        int count = 0;

        *ret_bits = 0;
        if (asprintf(&path, "%s\\images.json", root) < 0 ||
            plat_read_file(path, 1 << 20, &text, NULL) < 0)
                return -1;
        if (img_idx_parse(text, &l, &err) < 0) {
                print_error("images.json: %s\n", err->msg);
                uvm_error_free(err);
                return -1;
        }
        for (struct img_idx_rec *r = l; r; r = r->next, count++)
                *ret_bits |= 1ull << (strtoul(r->id + 7 + 48, NULL, 16) - 1);
        img_idx_free(l);
        return count;
}

static int on_disk(uint64_t *ret_bits)
{
        int n = try_on_disk(ret_bits);

        assert_true(n >= 0);
        return n;
}

/* Each store's change lands on what the other wrote: nothing is lost. */
static void test_two_stores_merge(void **state)
{
        struct img_store *a = store(), *b = store();
        uint64_t bits;

        (void) state;
        commit(a, 1);
        commit(b, 2);
        commit(a, 3);
        assert_int_equal(on_disk(&bits), 3);
        assert_true(bits == (1u << 1 | 1u << 2 | 1u << 3));
        assert_true(knows(b, 1) && knows(b, 3) && knows(a, 2));
        remove_rec(b, 1);
        assert_false(knows(a, 1));
        commit(a, 4);
        assert_int_equal(on_disk(&bits), 3);
        assert_true(bits == (1u << 2 | 1u << 3 | 1u << 4));
        img_store_free(a);
        img_store_free(b);
}

/* Another store's collection leaves the disk a pull renamed in place
 * before its record exists (ingest.lock), and it is kept once recorded. */
static void test_collection_waits_for_other_ingest(void **state)
{
        struct img_store *a = store(), *b = store();
        struct uvm_error *err = NULL;
        char disk[MAX_PATH];

        (void) state;
        snprintf(disk, sizeof(disk), "%s\\disks\\%064x.vhd", root, 9u + 1);
        imgw_ingest_begin(a);
        assert_int_equal(plat_write_file_atomic(disk, "vhd", 3, 0600), 0);
        commit(b, 1);
        remove_rec(b, 1); /* the last record of its disk: b collects */
        assert_true(GetFileAttributesA(disk) != INVALID_FILE_ATTRIBUTES);
        assert_int_equal(imgw_commit(a, rec(9), &err), 0);
        imgw_ingest_end(a, true); /* a failed pull collects too */
        assert_true(GetFileAttributesA(disk) != INVALID_FILE_ATTRIBUTES);
        remove_rec(b, 9);
        assert_false(GetFileAttributesA(disk) != INVALID_FILE_ATTRIBUTES);
        img_store_free(a);
        img_store_free(b);
}

/* The child: holds index.lock of root (argv) until <root>\release
 * exists, notes <root>\held and then <root>\released before it lets go. */
static int hold_lock(const char *dir)
{
        char lock[MAX_PATH], held[MAX_PATH], release[MAX_PATH], released[MAX_PATH];
        OVERLAPPED ov = {0};
        HANDLE h;

        snprintf(lock, sizeof(lock), "%s\\index.lock", dir);
        snprintf(held, sizeof(held), "%s\\held", dir);
        snprintf(release, sizeof(release), "%s\\release", dir);
        snprintf(released, sizeof(released), "%s\\released", dir);
        h = CreateFileA(lock, GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                        NULL, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, NULL);
        if (h == INVALID_HANDLE_VALUE || !LockFileEx(h, LOCKFILE_EXCLUSIVE_LOCK, 0, 1, 0, &ov))
                return 2;
        if (plat_write_file_atomic(held, "1", 1, 0600) < 0)
                return 3;
        for (int i = 0; i < 6000 && GetFileAttributesA(release) == INVALID_FILE_ATTRIBUTES; i++)
                Sleep(10);
        if (plat_write_file_atomic(released, "1", 1, 0600) < 0)
                return 4;
        UnlockFileEx(h, 0, 1, 0, &ov);
        CloseHandle(h);
        return 0;
}

static bool exists_in_root(const char *name)
{
        char p[MAX_PATH];

        snprintf(p, sizeof(p), "%s\\%s", root, name);
        return GetFileAttributesA(p) != INVALID_FILE_ATTRIBUTES;
}

struct committer {
        struct img_store *s;
        volatile LONG done;
        int r;
};

static void *commit_thread(void *data)
{
        struct committer *c = data;

        c->r = try_commit(c->s, 7);
        InterlockedExchange(&c->done, 1);
        return NULL;
}

/* Another process holds the lock: this one's commit waits for it to let
 * go, then lands (the child's "released" exists by then). */
static void test_commit_waits_for_other_process(void **state)
{
        struct committer c = {store(), 0};
        char exe[MAX_PATH], cmd[3 * MAX_PATH], release[MAX_PATH];
        STARTUPINFOA si = {.cb = sizeof(si)};
        PROCESS_INFORMATION pi;
        DWORD code = 99;
        pthread_t t;
        uint64_t bits;

        (void) state;
        assert_true(GetModuleFileNameA(NULL, exe, sizeof(exe)) > 0);
        snprintf(cmd, sizeof(cmd), "\"%s\" --hold-lock \"%s\"", exe, root);
        assert_true(CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi));
        for (int i = 0; i < 3000 && !exists_in_root("held"); i++)
                Sleep(10);
        assert_true(exists_in_root("held"));
        assert_int_equal(pthread_create(&t, NULL, commit_thread, &c), 0);
        Sleep(300); /* the commit has had time to finish, were it not waiting */
        assert_int_equal(c.done, 0);
        assert_false(exists_in_root("images.json"));
        snprintf(release, sizeof(release), "%s\\release", root);
        assert_int_equal(plat_write_file_atomic(release, "1", 1, 0600), 0);
        pthread_join(t, NULL);
        assert_int_equal(c.r, 0);
        assert_true(exists_in_root("released"));
        assert_int_equal(on_disk(&bits), 1);
        WaitForSingleObject(pi.hProcess, 30000);
        GetExitCodeProcess(pi.hProcess, &code);
        CloseHandle(pi.hProcess);
        CloseHandle(pi.hThread);
        assert_int_equal(code, 0);
        img_store_free(c.s);
}

struct worker {
        struct img_store *s;
        unsigned first; /* its records: first .. first + ROUNDS - 1 */
        int failures;   /* calls that failed, images.json not whole after one */
};

/* Pull each record, removing every third one again; images.json read
 * after each change. */
static void *work(void *data)
{
        struct worker *w = data;
        uint64_t bits;

        for (unsigned i = 0; i < ROUNDS; i++) {
                w->failures += try_commit(w->s, w->first + i) < 0;
                w->failures += try_on_disk(&bits) < 0 || !(bits & 1ull << (w->first + i));
                if (i % 3 == 2) {
                        w->failures += try_remove(w->s, w->first + i) < 0;
                        w->failures += try_on_disk(&bits) < 0;
                }
        }
        return NULL;
}

/* Two stores pull and remove at once: images.json is whole after each
 * change and ends with exactly the records neither removed. */
static void test_concurrent_stores(void **state)
{
        struct worker w[2] = {{store(), 0, 0}, {store(), ROUNDS, 0}};
        uint64_t bits, want = 0;
        pthread_t t[2];

        (void) state;
        for (int i = 0; i < 2; i++)
                assert_int_equal(pthread_create(&t[i], NULL, work, &w[i]), 0);
        for (int i = 0; i < 2; i++) {
                pthread_join(t[i], NULL);
                assert_int_equal(w[i].failures, 0);
        }
        for (unsigned n = 0; n < 2 * ROUNDS; n++)
                if (n % ROUNDS % 3 != 2)
                        want |= 1ull << n;
        assert_int_equal(on_disk(&bits), 2 * ROUNDS - 2 * (ROUNDS / 3));
        assert_true(bits == want);
        for (int i = 0; i < 2; i++)
                img_store_free(w[i].s);
}

int main(int argc, char **argv)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_two_stores_merge, setup, teardown),
                cmocka_unit_test_setup_teardown(test_commit_waits_for_other_process, setup,
                                                teardown),
                cmocka_unit_test_setup_teardown(test_concurrent_stores, setup, teardown),
                cmocka_unit_test_setup_teardown(test_collection_waits_for_other_ingest, setup,
                                                teardown),
        };

        if (argc == 3 && strcmp(argv[1], "--hold-lock") == 0)
                return hold_lock(argv[2]);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
