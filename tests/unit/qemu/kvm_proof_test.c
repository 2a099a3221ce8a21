/* The KVM proof kept per host boot: read back only for this boot. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/fs.h"
#include "sandbox/drivers/qemu/kvm_proof.h"

static void write_proof(const char *dir, const char *boot, const char *kvm)
{
        char path[256], text[512];

        snprintf(path, sizeof(path), "%s/qemu", dir);
        assert_int_equal(fs_mkdir_p(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/qemu/kvm-proof.json", dir);
        snprintf(text, sizeof(text), "{\"bootId\":\"%s\",\"kvm\":%s,\"why\":\"seen\"}", boot, kvm);
        assert_int_equal(fs_write_atomic(path, text, strlen(text), 0644), 0);
}

static void test_cached(void **state)
{
        char dir[] = "/tmp/kvm-proof-XXXXXX", why[64], *boot = NULL;
        bool kvm = false;

        assert_non_null(mkdtemp(dir));
        assert_int_equal(qemu_kvm_proof_cached(dir, &kvm, why, sizeof(why)), -ENOENT);
        assert_int_equal(fs_read_file("/proc/sys/kernel/random/boot_id", 128, &boot, NULL), 0);
        boot[strcspn(boot, "\n")] = '\0';
        write_proof(dir, boot, "true");
        assert_int_equal(qemu_kvm_proof_cached(dir, &kvm, why, sizeof(why)), 0);
        assert_true(kvm);
        assert_string_equal(why, "seen");
        /* Another boot's answer is no answer: the node may have changed. */
        write_proof(dir, "00000000-0000-0000-0000-000000000000", "true");
        assert_int_equal(qemu_kvm_proof_cached(dir, &kvm, why, sizeof(why)), -ENOENT);
        free(boot);
        fs_rm_rf(dir);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_cached),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
