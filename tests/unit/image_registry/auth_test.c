/* The registry client's decoders of untrusted input (WWW-Authenticate
 * challenges, token server answers), insecure-host matching, the token
 * cache, redirect targets and the encodings its requests use. Portable: runs
 * on Linux and, with the WinHTTP build of the client, under Wine. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/encode.h"
#include "image/registry-internal.h"
#include "image/registry-transport.h"
#include "image/registry.h"

static void test_challenge_bearer(void **state)
{
        struct reg_challenge ch = {0};

        assert_int_equal(reg_challenge_parse("Bearer realm=\"https://auth.example/token\","
                                             "service=\"registry.example\",scope=\"repository:a/"
                                             "b:pull\"",
                                             &ch),
                         0);
        assert_true(ch.bearer);
        assert_string_equal(ch.realm, "https://auth.example/token");
        assert_string_equal(ch.service, "registry.example");
        assert_string_equal(ch.scope, "repository:a/b:pull");
        reg_challenge_clear(&ch);

        /* Case-insensitive scheme and keys, bare tokens, spaces, escapes. */
        assert_int_equal(
                reg_challenge_parse("bearer REALM=https://a/t , Service=\"s\\\"q\", x=y", &ch), 0);
        assert_true(ch.bearer);
        assert_string_equal(ch.realm, "https://a/t");
        assert_string_equal(ch.service, "s\"q");
        assert_null(ch.scope);
        reg_challenge_clear(&ch);
}

static void test_challenge_basic_and_refusals(void **state)
{
        struct reg_challenge ch = {0};

        assert_int_equal(reg_challenge_parse("Basic realm=\"registry\"", &ch), 0);
        assert_false(ch.bearer);
        assert_string_equal(ch.realm, "registry");
        reg_challenge_clear(&ch);

        assert_int_equal(reg_challenge_parse("Bearer", &ch), 0);
        assert_null(ch.realm);
        reg_challenge_clear(&ch);

        assert_int_equal(reg_challenge_parse("Bearer realm=\"unterminated", &ch), 0);
        assert_string_equal(ch.realm, "unterminated");
        reg_challenge_clear(&ch);

        assert_int_equal(reg_challenge_parse("Negotiate abc", &ch), -EPROTO);
        assert_int_equal(reg_challenge_parse("BearerX realm=a", &ch), -EPROTO);
        assert_int_equal(reg_challenge_parse("", &ch), -EPROTO);
}

static void test_token_parse(void **state)
{
        struct uvm_error *err = NULL;
        char *authz = NULL;
        long ttl = 0;
        const char *b;

        b = "{\"token\":\"abc.def\",\"expires_in\":300}";
        assert_int_equal(reg_token_parse(b, strlen(b), "h", &authz, &ttl, &err), 0);
        assert_string_equal(authz, "Bearer abc.def");
        assert_int_equal(ttl, 300);
        free(authz);

        b = "{\"access_token\":\"xyz\"}";
        assert_int_equal(reg_token_parse(b, strlen(b), "h", &authz, &ttl, &err), 0);
        assert_string_equal(authz, "Bearer xyz");
        assert_int_equal(ttl, 60);
        free(authz);

        b = "{\"token\":\"t\",\"expires_in\":99999999}";
        assert_int_equal(reg_token_parse(b, strlen(b), "h", &authz, &ttl, &err), 0);
        assert_int_equal(ttl, 24 * 3600);
        free(authz);

        b = "{\"token\":\"t\",\"expires_in\":-5}";
        assert_int_equal(reg_token_parse(b, strlen(b), "h", &authz, &ttl, &err), 0);
        assert_int_equal(ttl, 60);
        free(authz);
        assert_null(err);
}

static void test_token_parse_refusals(void **state)
{
        static const char *bad[] = {
                "",
                "[]",
                "{\"token\":5}",
                "{\"token\":\"\"}",
                "{\"token\":\"a\\r\\nX-Injected: 1\"}", /* would split the header */
                "{\"token\":\"a b\"}",
                "{\"other\":\"x\"}",
                "{\"token\":\"x\"",
        };
        char *authz = NULL;
        long ttl = 0;

        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                struct uvm_error *err = NULL;

                assert_int_equal(
                        reg_token_parse(bad[i], strlen(bad[i]), "reg.example", &authz, &ttl, &err),
                        -EPROTO);
                assert_non_null(strstr(err->msg, "reg.example"));
                uvm_error_free(err);
        }
}

static struct reg_client *client(char **insecure)
{
        struct reg_options o = {.insecure_registries = insecure};
        struct reg_client *c = NULL;
        struct uvm_error *err = NULL;

        assert_int_equal(reg_client_new(&o, &c, &err), 0);
        return c;
}

static void test_insecure_hosts(void **state)
{
        char *list[] = {"127.0.0.1:5000", "plain.example", "[::1]", NULL};
        struct reg_client *c = client(list);

        assert_true(reg_host_is_insecure(c, "127.0.0.1:5000"));
        assert_false(reg_host_is_insecure(c, "127.0.0.1:5001"));
        assert_false(reg_host_is_insecure(c, "127.0.0.1"));
        assert_false(reg_host_is_insecure(c, "localhost:5000")); /* never implicit */
        assert_true(reg_host_is_insecure(c, "plain.example"));
        assert_true(reg_host_is_insecure(c, "plain.example:8080"));
        assert_false(reg_host_is_insecure(c, "plain.example.evil"));
        assert_true(reg_host_is_insecure(c, "[::1]:5000"));

        assert_true(reg_url_allowed(c, "https://anything.example/x"));
        assert_true(reg_url_allowed(c, "http://127.0.0.1:5000/v2/"));
        assert_false(reg_url_allowed(c, "http://127.0.0.1:6000/v2/"));
        assert_false(reg_url_allowed(c, "ftp://127.0.0.1:5000/"));
        assert_false(reg_url_allowed(c, "file:///etc/passwd"));
        reg_client_free(c);
}

static void test_mirror_config(void **state)
{
        char *insecure[] = {"m2.example", NULL};
        char *ok[] = {"docker.io=https://m1.example/v2/,http://m2.example:5000", NULL};
        char *plain[] = {"docker.io=http://m3.example", NULL};
        char *shape[] = {"https://m1.example", NULL};
        char *scheme[] = {"docker.io=ftp://m1.example", NULL};
        struct reg_options o = {.insecure_registries = insecure, .mirrors = ok};
        struct reg_client *c = NULL;
        struct uvm_error *err = NULL;

        assert_int_equal(reg_client_new(&o, &c, &err), 0);
        assert_int_equal(c->n_mirrors, 1);
        assert_string_equal(c->mirrors[0].registry, "docker.io");
        assert_string_equal(c->mirrors[0].urls[0], "https://m1.example");
        assert_string_equal(c->mirrors[0].urls[1], "http://m2.example:5000");
        assert_null(c->mirrors[0].urls[2]);
        c = reg_client_free(c);

        char **bad[] = {plain, shape, scheme};
        for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
                o.mirrors = bad[i];
                assert_int_equal(reg_client_new(&o, &c, &err), -EINVAL);
                assert_null(c);
                assert_non_null(strstr(err->msg, "mirror"));
                err = uvm_error_free(err);
        }
}

static void test_token_cache(void **state)
{
        struct reg_client *c = client(NULL);
        char key[32], *v;

        assert_null(reg_token_get(c, "h\ns\nx"));
        reg_token_put(c, "h\ns\nx", "Bearer one", 60);
        v = reg_token_get(c, "h\ns\nx");
        assert_string_equal(v, "Bearer one");
        free(v);
        reg_token_put(c, "h\ns\nx", "Bearer two", 60); /* replaces */
        v = reg_token_get(c, "h\ns\nx");
        assert_string_equal(v, "Bearer two");
        free(v);
        reg_token_forget(c, "h\ns\nx");
        assert_null(reg_token_get(c, "h\ns\nx"));

        /* A 1 s token is kept for half its life, then gone. */
        reg_token_put(c, "short", "Bearer s", 1);
        v = reg_token_get(c, "short");
        assert_non_null(v);
        free(v);
        usleep(600 * 1000);
        assert_null(reg_token_get(c, "short"));

        /* Full: the entry that expires first makes room; the rest stay. */
        reg_token_put(c, "first", "Bearer f", 30);
        for (int i = 0; i < REG_MAX_TOKENS; i++) {
                snprintf(key, sizeof(key), "k%d", i);
                reg_token_put(c, key, "Bearer k", 3600);
        }
        assert_null(reg_token_get(c, "first"));
        v = reg_token_get(c, "k0");
        assert_non_null(v);
        free(v);
        reg_client_free(c);
}

static void test_url_escape(void **state)
{
        char *v;

        v = enc_url_escape("repository:lib/gated:pull");
        assert_string_equal(v, "repository%3Alib%2Fgated%3Apull");
        free(v);
        v = enc_url_escape("AZaz09-._~");
        assert_string_equal(v, "AZaz09-._~");
        free(v);
        v = enc_url_escape(" +&=?#%\x7f\xc3\xa9");
        assert_string_equal(v, "%20%2B%26%3D%3F%23%25%7F%C3%A9");
        free(v);
        v = enc_url_escape("");
        assert_string_equal(v, "");
        free(v);
}

static void test_base64(void **state)
{
        static const struct {
                const char *in, *out;
        } cases[] = {
                {"", ""},
                {"f", "Zg=="},
                {"fo", "Zm8="},
                {"foo", "Zm9v"},
                {"foob", "Zm9vYg=="},
                {"fooba", "Zm9vYmE="},
                {"foobar", "Zm9vYmFy"},
                {"tester:s3cret", "dGVzdGVyOnMzY3JldA=="},
        };
        const unsigned char bin[] = {0xfb, 0xff, 0x00, 0x3e};
        char *v;

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                v = enc_base64(cases[i].in, strlen(cases[i].in));
                assert_string_equal(v, cases[i].out);
                free(v);
        }
        v = enc_base64(bin, sizeof(bin));
        assert_string_equal(v, "+/8APg==");
        free(v);
}

static void test_url_resolve(void **state)
{
        static const char *base = "https://reg.example:5000/v2/lib/x/blobs/sha256:abc?a=1";
        static const struct {
                const char *loc, *want;
        } cases[] = {
                {"https://cdn.example/b?sig=1", "https://cdn.example/b?sig=1"},
                {"http://127.0.0.2:80/s#frag", "http://127.0.0.2:80/s"},
                {"/storage/x?y=1", "https://reg.example:5000/storage/x?y=1"},
                {"//cdn.example/p", "https://cdn.example/p"},
                {"../other", "https://reg.example:5000/v2/lib/x/other"},
                {"c/./d/../e", "https://reg.example:5000/v2/lib/x/blobs/c/e"},
                {"?q=1", "https://reg.example:5000/v2/lib/x/blobs/sha256:abc?q=1"},
                {"/a/b/../../../c", "https://reg.example:5000/c"},
                {"./", "https://reg.example:5000/v2/lib/x/blobs/"},
                {"..", "https://reg.example:5000/v2/lib/x/"},
                {"/a/.", "https://reg.example:5000/a/"},
                {"", "https://reg.example:5000/v2/lib/x/blobs/sha256:abc?a=1"},
        };
        char *v;

        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                v = reg_url_resolve(base, cases[i].loc);
                assert_non_null(v);
                assert_string_equal(v, cases[i].want);
                free(v);
        }
        v = reg_url_resolve("http://h:5000", "a/b");
        assert_string_equal(v, "http://h:5000/a/b");
        free(v);
        assert_null(reg_url_resolve("/relative/base", "x"));
        assert_null(reg_url_resolve("no scheme", "x"));
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_challenge_bearer),
                cmocka_unit_test(test_challenge_basic_and_refusals),
                cmocka_unit_test(test_token_parse),
                cmocka_unit_test(test_token_parse_refusals),
                cmocka_unit_test(test_insecure_hosts),
                cmocka_unit_test(test_mirror_config),
                cmocka_unit_test(test_token_cache),
                cmocka_unit_test(test_url_escape),
                cmocka_unit_test(test_base64),
                cmocka_unit_test(test_url_resolve),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
