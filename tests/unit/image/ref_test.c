/* img_ref_parse: docker-style reference normalisation and its refusals. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "image/ref.h"

#define HEX "4fbec69b941195fd56f8212a5000e304129451d82efca94ff0e0fb2d5355472e"
#define DG "sha256:" HEX

struct good_case {
        const char *in;
        const char *domain, *path, *tag, *digest;
        const char *string; /* img_ref_string */
        const char *host;   /* img_ref_registry_host */
};

static const struct good_case good[] = {
        {"busybox", "docker.io", "library/busybox", "latest", NULL,
         "docker.io/library/busybox:latest", "registry-1.docker.io"},
        {"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL,
         "docker.io/library/busybox:1.36", "registry-1.docker.io"},
        {"library/busybox", "docker.io", "library/busybox", "latest", NULL,
         "docker.io/library/busybox:latest", "registry-1.docker.io"},
        {"docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
         "docker.io/library/busybox:latest", "registry-1.docker.io"},
        {"index.docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
         "docker.io/library/busybox:latest", "registry-1.docker.io"},
        {"bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", NULL,
         "docker.io/bitnami/redis:7.2", "registry-1.docker.io"},
        {"registry.k8s.io/pause:3.9", "registry.k8s.io", "pause", "3.9", NULL,
         "registry.k8s.io/pause:3.9", "registry.k8s.io"},
        {"quay.io/a/b/c:v1", "quay.io", "a/b/c", "v1", NULL, "quay.io/a/b/c:v1", "quay.io"},
        {"localhost/foo", "localhost", "foo", "latest", NULL, "localhost/foo:latest", "localhost"},
        {"localhost:5000/foo/bar:tag", "localhost:5000", "foo/bar", "tag", NULL,
         "localhost:5000/foo/bar:tag", "localhost:5000"},
        {"127.0.0.1:5000/x", "127.0.0.1:5000", "x", "latest", NULL, "127.0.0.1:5000/x:latest",
         "127.0.0.1:5000"},
        {"[::1]:5000/x:t", "[::1]:5000", "x", "t", NULL, "[::1]:5000/x:t", "[::1]:5000"},
        {"myhost:443/team/app", "myhost:443", "team/app", "latest", NULL,
         "myhost:443/team/app:latest", "myhost:443"},
        /* "localhost" without a slash is a repository, and ":5000" its tag */
        {"localhost:5000", "docker.io", "library/localhost", "5000", NULL,
         "docker.io/library/localhost:5000", "registry-1.docker.io"},
        {"Registry.Example.com/app", "Registry.Example.com", "app", "latest", NULL,
         "Registry.Example.com/app:latest", "Registry.Example.com"},
        {"busybox@" DG, "docker.io", "library/busybox", NULL, DG, "docker.io/library/busybox@" DG,
         "registry-1.docker.io"},
        {"busybox:1.36@" DG, "docker.io", "library/busybox", "1.36", DG,
         "docker.io/library/busybox:1.36@" DG, "registry-1.docker.io"},
        {"localhost:5000/foo@" DG, "localhost:5000", "foo", NULL, DG, "localhost:5000/foo@" DG,
         "localhost:5000"},
        {"a/b.c_d__e-f--g:_Tag.-x", "docker.io", "a/b.c_d__e-f--g", "_Tag.-x", NULL,
         "docker.io/a/b.c_d__e-f--g:_Tag.-x", "registry-1.docker.io"},
        {"x:" /* 128-char tag */
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "docker.io", "library/x",
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         NULL, NULL, "registry-1.docker.io"},
};

static void assert_str_or_null(const char *got, const char *want)
{
        if (!want)
                assert_null(got);
        else
                assert_string_equal(got, want);
}

static void parses_good_references(void **state)
{
        (void) state;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                const struct good_case *c = &good[i];
                struct uvm_error *err = NULL;
                struct img_ref r = {0};
                char *s, *name, *want_name;

                print_message("ref %s\n", c->in);
                assert_int_equal(img_ref_parse(c->in, &r, &err), 0);
                assert_null(err);
                assert_string_equal(r.domain, c->domain);
                assert_string_equal(r.path, c->path);
                assert_str_or_null(r.tag, c->tag);
                assert_str_or_null(r.digest, c->digest);
                assert_string_equal(img_ref_registry_host(&r), c->host);
                if (c->string) {
                        s = img_ref_string(&r);
                        assert_string_equal(s, c->string);
                        free(s);
                }
                name = img_ref_name(&r);
                assert_int_not_equal(asprintf(&want_name, "%s/%s", c->domain, c->path), -1);
                assert_string_equal(name, want_name);
                free(name);
                free(want_name);
                img_ref_clear(&r);
                assert_null(r.domain);
        }
}

static const char *const bad[] = {
        "",
        ":",
        ":tag",
        "@" DG,
        "busybox:",            /* trailing colon */
        "busybox@",            /* empty digest */
        "BusyBox",             /* upper case repository */
        "docker.io/Library/x", /* upper case path component */
        "busybox:-tag",        /* tag starts with '-' */
        "busybox:.tag",        /* tag starts with '.' */
        "busybox:ta/g",        /* the tag split is after the last '/': bad host */
        "busybox:t@g",         /* '@' starts a (bad) digest */
        "busybox:tag:more",    /* ':' in a tag */
        "busybox:tag!",        /* bad tag character */
        "busybox@sha256:abc",  /* short digest */
        "busybox@sha512:" HEX, /* only sha256 */
        "busybox@sha256:4FBEC69B941195FD56F8212A5000E304129451D82EFCA94FF0E0FB2D5355472E",
        "busybox@" DG "0",    /* digest one hex too long */
        "busybox@" DG "@" DG, /* two digests */
        "/busybox",           /* empty first component */
        "busybox/",           /* empty last component */
        "a//b",               /* empty middle component */
        "-a/b",               /* separator first */
        "a-/b",               /* separator last */
        "a/b..c",             /* two dots */
        "a/b___c",            /* three underscores */
        "a/b._c",             /* mixed separators */
        "a b",                /* space */
        "exa mple.com/a",     /* space in host */
        "-bad.com/a",         /* host part starting with '-' */
        "bad-.com/a",         /* host part ending with '-' */
        "bad..com/a",         /* empty host part */
        "host.com:/a",        /* empty port */
        "host.com:abc/a",     /* non-numeric port */
        "host.com:99999/a",   /* port out of range */
        "host.com:0/a",       /* port zero */
        "[::1/a",             /* unclosed bracket */
        "[zz]/a",             /* not hex */
        "[::1]x/a",           /* junk after bracket */
        HEX,                  /* an image id, not a repository */
        "x:"                  /* 129-char tag */
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};

static void refuses_bad_references(void **state)
{
        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct uvm_error *err = NULL;
                struct img_ref r = {0};

                print_message("bad ref '%s'\n", bad[i]);
                assert_int_equal(img_ref_parse(bad[i], &r, &err), -EINVAL);
                assert_non_null(err);
                assert_non_null(err->msg);
                assert_null(r.domain);
                assert_null(r.path);
                uvm_error_free(err);
        }
}

/* A single component with a '.' is docker.io/library/<it>: dots are a path
 * separator, and only a first component followed by '/' can be a host. */
static void host_like_single_name(void **state)
{
        struct img_ref r = {0};

        (void) state;
        assert_int_equal(img_ref_parse("host.com", &r, NULL), 0);
        assert_string_equal(r.domain, "docker.io");
        assert_string_equal(r.path, "library/host.com");
        img_ref_clear(&r);
}

static void messages_name_the_problem(void **state)
{
        struct uvm_error *err = NULL;
        struct img_ref r = {0};

        (void) state;
        assert_int_equal(img_ref_parse("Busybox/Foo", &r, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "lower-case"));
        err = uvm_error_free(err);
        assert_int_equal(img_ref_parse("busybox:", &r, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "tag"));
        err = uvm_error_free(err);
        assert_int_equal(img_ref_parse("busybox@sha256:00", &r, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "digest"));
        err = uvm_error_free(err);
        assert_int_equal(img_ref_parse("", &r, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "empty"));
        err = uvm_error_free(err);
        /* NULL err is allowed */
        assert_int_equal(img_ref_parse("BAD", &r, NULL), -EINVAL);
        assert_int_equal(img_ref_parse(NULL, &r, NULL), -EINVAL);
}

static char *repeat(char c, size_t n)
{
        char *s = malloc(n + 1);

        assert_non_null(s);
        memset(s, c, n);
        s[n] = '\0';
        return s;
}

/* The normalised name is at most 255 characters (tag and digest not counted). */
static void name_length_limit(void **state)
{
        struct uvm_error *err = NULL;
        struct img_ref r = {0};
        char *comp = repeat('a', 245), *s = NULL;

        (void) state;
        /* "registry.io/" (12) + 243 = 255: accepted */
        comp[243] = '\0';
        assert_int_not_equal(asprintf(&s, "registry.io/%s:t@%s", comp, DG), -1);
        assert_int_equal(img_ref_parse(s, &r, &err), 0);
        assert_int_equal(strlen(r.domain) + 1 + strlen(r.path), 255);
        img_ref_clear(&r);
        free(s);
        /* 256: refused */
        comp[243] = 'a';
        comp[244] = '\0';
        assert_int_not_equal(asprintf(&s, "registry.io/%s", comp), -1);
        assert_int_equal(img_ref_parse(s, &r, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "255"));
        uvm_error_free(err);
        free(s);
        free(comp);

        /* the limit is on the normalised name: docker.io/library/ adds 18 */
        comp = repeat('a', 237);
        assert_int_equal(img_ref_parse(comp, &r, NULL), 0);
        assert_int_equal(strlen(r.domain) + 1 + strlen(r.path), 255);
        img_ref_clear(&r);
        free(comp);
        comp = repeat('a', 238);
        assert_int_equal(img_ref_parse(comp, &r, NULL), -EINVAL);
        free(comp);

        /* absurdly long input is refused before any work */
        s = repeat('a', 100000);
        assert_int_equal(img_ref_parse(s, &r, NULL), -EINVAL);
        free(s);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(parses_good_references),
                cmocka_unit_test(refuses_bad_references),
                cmocka_unit_test(host_like_single_name),
                cmocka_unit_test(messages_name_the_problem),
                cmocka_unit_test(name_length_limit),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
