/* sha256 digests: FIPS 180-2 vectors, the streaming hasher, files, validation. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/platform.h"
#include "image/digest.h"

#define EMPTY "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define TWO_BLOCKS "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
#define MILLION_A "sha256:cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
#define TWO_BLOCKS_MSG "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"

static void known_vectors(void **state)
{
        char out[IMG_DIGEST_LEN + 1];

        (void) state;
        img_digest_buf("", 0, out);
        assert_string_equal(out, EMPTY);
        img_digest_buf(NULL, 0, out);
        assert_string_equal(out, EMPTY);
        img_digest_buf("abc", 3, out);
        assert_string_equal(out, ABC);
        img_digest_buf(TWO_BLOCKS_MSG, strlen(TWO_BLOCKS_MSG), out);
        assert_string_equal(out, TWO_BLOCKS);
        assert_int_equal(strlen(out), IMG_DIGEST_LEN);
        assert_true(img_digest_valid(out));
}

static void hasher_streams_and_resets(void **state)
{
        struct img_hasher *h = img_hasher_new();
        char out[IMG_DIGEST_LEN + 1], chunk[1000];

        (void) state;
        assert_non_null(h);
        memset(chunk, 'a', sizeof(chunk));
        for (int i = 0; i < 1000; i++)
                img_hasher_update(h, chunk, sizeof(chunk));
        img_hasher_final(h, out);
        assert_string_equal(out, MILLION_A);

        /* final reset the hasher: the next message starts from scratch */
        img_hasher_update(h, "a", 1);
        img_hasher_update(h, "", 0);
        img_hasher_update(h, "bc", 2);
        img_hasher_final(h, out);
        assert_string_equal(out, ABC);
        img_hasher_final(h, out);
        assert_string_equal(out, EMPTY);

        assert_null(img_hasher_free(h));
        assert_null(img_hasher_free(NULL));
}

static void file_digest_and_size(void **state)
{
        char *dir = NULL, path[300], out[IMG_DIGEST_LEN + 1];
        unsigned long long size = 1;
        char *big;

        (void) state;
        assert_int_equal(plat_mkdtemp("imgdigest.", &dir), 0);
        snprintf(path, sizeof(path), "%s/empty", dir);
        assert_int_equal(plat_write_file_atomic(path, "", 0, 0644), 0);
        assert_int_equal(img_digest_file(path, out, &size), 0);
        assert_string_equal(out, EMPTY);
        assert_int_equal(size, 0);

        /* larger than the read chunk, so several reads are hashed */
        big = malloc(1000000);
        assert_non_null(big);
        memset(big, 'a', 1000000);
        snprintf(path, sizeof(path), "%s/big", dir);
        assert_int_equal(plat_write_file_atomic(path, big, 1000000, 0644), 0);
        free(big);
        assert_int_equal(img_digest_file(path, out, &size), 0);
        assert_string_equal(out, MILLION_A);
        assert_int_equal(size, 1000000);
        assert_int_equal(img_digest_file(path, out, NULL), 0);
        assert_string_equal(out, MILLION_A);

        snprintf(path, sizeof(path), "%s/missing", dir);
        assert_int_equal(img_digest_file(path, out, &size), -ENOENT);
        /* a directory is not a blob */
        assert_int_equal(img_digest_file(dir, out, &size), -EINVAL);
        assert_int_equal(img_digest_file(NULL, out, &size), -EINVAL);

        assert_int_equal(plat_rm_rf(dir), 0);
        free(dir);
}

static void validation(void **state)
{
        static const char *const bad[] = {
                "",
                "sha256:",
                "sha256",
                EMPTY "0",
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
                "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85g",
                "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85 ",
                "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                " sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        };

        (void) state;
        assert_true(img_digest_valid(EMPTY));
        assert_true(img_digest_valid(ABC));
        assert_false(img_digest_valid(NULL));
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                print_message("bad digest '%s'\n", bad[i]);
                assert_false(img_digest_valid(bad[i]));
        }
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(known_vectors),
                cmocka_unit_test(hasher_streams_and_resets),
                cmocka_unit_test(file_digest_and_size),
                cmocka_unit_test(validation),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
