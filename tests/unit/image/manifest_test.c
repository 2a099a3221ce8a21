/* Manifests, indexes, configs and chain ids: good documents from testdata/,
 * and malformed ones that must be refused with a message, never a crash. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/platform.h"
#include "image/manifest.h"

#define TESTDATA "tests/unit/image/testdata/"
#define DA "sha256:4fbec69b941195fd56f8212a5000e304129451d82efca94ff0e0fb2d5355472e"
#define DB "sha256:77ea7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106a2"
#define DC "sha256:95cf1a2e1698fe3ca1fcc3f653119146b271d0b62e487ec264441e886a11bd06"
#define DD "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define DE "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/* python3: c = [d[0]]; c.append(sha256((c[-1] + " " + d[i]).encode())) */
#define CHAIN1 "sha256:ef232af0eb422cdfd7917631657cd8ed2bfd5b9461b37c427aa0d3e0a19adf79"
#define CHAIN2 "sha256:7ad3896338947cc04ee0b35b50d400ff32538d63f42f85ec87feac78bf71a54d"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"

static char *fixture(const char *name, size_t *ret_len)
{
        char path[256];
        char *buf = NULL;
        size_t len = 0;

        snprintf(path, sizeof(path), TESTDATA "%s", name);
        assert_int_equal(plat_read_file(path, IMG_MAX_JSON, &buf, &len), 0);
        *ret_len = len;
        return buf;
}

/* A growing string for generated documents. */
struct sbuf {
        char *s;
        size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *fmt, ...)
{
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        assert_true(n >= 0);
        if (b->len + (size_t) n + 1 > b->cap) {
                b->cap = (b->len + (size_t) n + 1) * 2;
                b->s = realloc(b->s, b->cap);
                assert_non_null(b->s);
        }
        va_start(ap, fmt);
        vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        b->len += (size_t) n;
}

static char *manifest_with_layers(size_t n)
{
        struct sbuf b = {0};

        sb_add(&b,
               "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"%s\",\"digest\":\"%s\","
               "\"size\":1},\"layers\":[",
               MT_OCI_CONFIG, DA);
        for (size_t i = 0; i < n; i++)
                sb_add(&b, "%s{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}", i ? "," : "",
                       MT_GZIP, DB, i);
        sb_add(&b, "]}");
        return b.s;
}

/* ---- media types ---- */

static void media_classification(void **state)
{
        static const struct {
                const char *type;
                enum img_media want;
        } cases[] = {
                {MT_OCI_MANIFEST, IMG_MEDIA_OCI_MANIFEST},
                {"application/vnd.oci.image.index.v1+json", IMG_MEDIA_OCI_INDEX},
                {"application/vnd.docker.distribution.manifest.v2+json", IMG_MEDIA_DOCKER_MANIFEST},
                {"application/vnd.docker.distribution.manifest.list.v2+json",
                 IMG_MEDIA_DOCKER_LIST},
                {MT_OCI_CONFIG, IMG_MEDIA_OCI_CONFIG},
                {MT_DOCKER_CONFIG, IMG_MEDIA_DOCKER_CONFIG},
                {"application/vnd.oci.image.layer.v1.tar", IMG_MEDIA_LAYER_TAR},
                {MT_GZIP, IMG_MEDIA_LAYER_GZIP},
                {"application/vnd.oci.image.layer.v1.tar+zstd", IMG_MEDIA_LAYER_ZSTD},
                {"application/vnd.oci.image.layer.nondistributable.v1.tar", IMG_MEDIA_LAYER_TAR},
                {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                 IMG_MEDIA_LAYER_GZIP},
                {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
                 IMG_MEDIA_LAYER_ZSTD},
                {"application/vnd.docker.image.rootfs.diff.tar.gzip", IMG_MEDIA_LAYER_GZIP},
                {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", IMG_MEDIA_LAYER_GZIP},
                /* Content-Type forms: parameters, blanks, case */
                {" application/vnd.oci.image.manifest.v1+json ; charset=utf-8",
                 IMG_MEDIA_OCI_MANIFEST},
                {"Application/VND.OCI.Image.Index.v1+JSON", IMG_MEDIA_OCI_INDEX},
                {"application/vnd.oci.image.layer.v1.tar+encrypted", IMG_MEDIA_UNKNOWN},
                {"application/vnd.docker.distribution.manifest.v1+prettyjws", IMG_MEDIA_UNKNOWN},
                {"application/vnd.oci.image.manifest.v1+jsonx", IMG_MEDIA_UNKNOWN},
                {"application/vnd.oci.image.manifest.v1", IMG_MEDIA_UNKNOWN},
                {"application/json", IMG_MEDIA_UNKNOWN},
                {"", IMG_MEDIA_UNKNOWN},
                {NULL, IMG_MEDIA_UNKNOWN},
        };
        const char *accept = img_media_accept();

        (void) state;
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                print_message("media '%s'\n", cases[i].type ? cases[i].type : "(null)");
                assert_int_equal(img_media_classify(cases[i].type), cases[i].want);
        }
        assert_non_null(strstr(accept, "application/vnd.oci.image.index.v1+json"));
        assert_non_null(strstr(accept, MT_OCI_MANIFEST));
        assert_non_null(strstr(accept, "application/vnd.docker.distribution.manifest.v2+json"));
        assert_non_null(
                strstr(accept, "application/vnd.docker.distribution.manifest.list.v2+json"));
}

static void sniffing(void **state)
{
        static const struct {
                const char *file;
                enum img_media want;
        } files[] = {
                {"oci_manifest.json", IMG_MEDIA_OCI_MANIFEST},
                {"docker_manifest.json", IMG_MEDIA_DOCKER_MANIFEST},
                {"oci_index.json", IMG_MEDIA_OCI_INDEX},
                {"docker_list.json", IMG_MEDIA_DOCKER_LIST},
        };
        static const char bare_docker[] =
                "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_DOCKER_CONFIG
                "\"},\"layers\":[]}";
        static const char bare_oci[] = "{\"schemaVersion\":2,\"config\":{},\"layers\":[]}";
        static const char bare_index[] = "{\"schemaVersion\":2,\"manifests\":[]}";
        static const char unknown[] = "{\"mediaType\":\"application/x-thing\",\"layers\":[]}";

        (void) state;
        for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
                size_t len;
                char *json = fixture(files[i].file, &len);
                /* the body's own mediaType wins over a wrong Content-Type */
                assert_int_equal(img_manifest_sniff(json, len, "application/json"), files[i].want);
                assert_int_equal(img_manifest_sniff(json, len, NULL), files[i].want);
                free(json);
        }
        /* no mediaType: the Content-Type, then the shape */
        assert_int_equal(img_manifest_sniff(bare_oci, strlen(bare_oci),
                                            "application/vnd.docker.distribution.manifest.v2+json"),
                         IMG_MEDIA_DOCKER_MANIFEST);
        assert_int_equal(img_manifest_sniff(bare_oci, strlen(bare_oci), NULL),
                         IMG_MEDIA_OCI_MANIFEST);
        assert_int_equal(img_manifest_sniff(bare_docker, strlen(bare_docker), "text/plain"),
                         IMG_MEDIA_DOCKER_MANIFEST);
        assert_int_equal(img_manifest_sniff(bare_index, strlen(bare_index), NULL),
                         IMG_MEDIA_OCI_INDEX);
        /* an unknown declared type is not overridden by the shape */
        assert_int_equal(img_manifest_sniff(unknown, strlen(unknown), MT_OCI_MANIFEST),
                         IMG_MEDIA_UNKNOWN);
        assert_int_equal(img_manifest_sniff("{}", 2, NULL), IMG_MEDIA_UNKNOWN);
        /* not JSON: only the Content-Type can tell */
        assert_int_equal(img_manifest_sniff("<html>", 6, NULL), IMG_MEDIA_UNKNOWN);
        assert_int_equal(img_manifest_sniff("<html>", 6, MT_OCI_MANIFEST "; q=1"),
                         IMG_MEDIA_OCI_MANIFEST);
        assert_int_equal(img_manifest_sniff(NULL, 0, NULL), IMG_MEDIA_UNKNOWN);
}

/* ---- manifests ---- */

static void oci_manifest(void **state)
{
        struct uvm_error *err = NULL;
        struct img_manifest m = {0};
        size_t len;
        char *json = fixture("oci_manifest.json", &len);

        (void) state;
        assert_int_equal(img_manifest_parse(json, len, &m, &err), 0);
        assert_null(err);
        assert_int_equal(m.kind, IMG_MEDIA_OCI_MANIFEST);
        assert_string_equal(m.config.media_type, MT_OCI_CONFIG);
        assert_string_equal(m.config.digest, DE);
        assert_int_equal(m.config.size, 1470);
        assert_null(m.config.os);
        assert_int_equal(m.n_layers, 3);
        assert_int_equal(img_media_classify(m.layers[0].media_type), IMG_MEDIA_LAYER_GZIP);
        assert_int_equal(img_media_classify(m.layers[1].media_type), IMG_MEDIA_LAYER_ZSTD);
        assert_int_equal(img_media_classify(m.layers[2].media_type), IMG_MEDIA_LAYER_TAR);
        assert_string_equal(m.layers[0].digest, DA);
        assert_string_equal(m.layers[1].digest, DB);
        assert_string_equal(m.layers[2].digest, DC);
        assert_int_equal(m.layers[0].size, 2807933);
        assert_int_equal(m.layers[1].size, 0);
        assert_int_equal(m.layers[2].size, 10240);
        img_manifest_clear(&m);
        assert_null(m.layers);
        assert_int_equal(m.n_layers, 0);
        img_manifest_clear(&m);
        img_manifest_clear(NULL);
        free(json);
}

static void docker_manifest(void **state)
{
        struct img_manifest m = {0};
        size_t len;
        char *json = fixture("docker_manifest.json", &len);

        (void) state;
        assert_int_equal(img_manifest_parse(json, len, &m, NULL), 0);
        assert_int_equal(m.kind, IMG_MEDIA_DOCKER_MANIFEST);
        assert_string_equal(m.config.media_type, MT_DOCKER_CONFIG);
        assert_string_equal(m.config.digest, DD);
        assert_int_equal(m.config.size, 1457);
        assert_int_equal(m.n_layers, 2);
        assert_int_equal(img_media_classify(m.layers[0].media_type), IMG_MEDIA_LAYER_GZIP);
        assert_int_equal(img_media_classify(m.layers[1].media_type), IMG_MEDIA_LAYER_GZIP);
        assert_int_equal(m.layers[0].size, 772806);
        img_manifest_clear(&m);
        free(json);
}

/* Without a mediaType field the kind follows the config type. */
static void manifest_kind_without_media_type(void **state)
{
        static const char docker[] =
                "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_DOCKER_CONFIG
                "\",\"digest\":\"" DA "\",\"size\":5},\"layers\":[]}";
        static const char oci[] = "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_OCI_CONFIG
                                  "\",\"digest\":\"" DA "\",\"size\":5},\"layers\":[]}  \n";
        struct img_manifest m = {0};

        (void) state;
        assert_int_equal(img_manifest_parse(docker, strlen(docker), &m, NULL), 0);
        assert_int_equal(m.kind, IMG_MEDIA_DOCKER_MANIFEST);
        assert_int_equal(m.n_layers, 0);
        img_manifest_clear(&m);
        /* trailing white space is fine */
        assert_int_equal(img_manifest_parse(oci, strlen(oci), &m, NULL), 0);
        assert_int_equal(m.kind, IMG_MEDIA_OCI_MANIFEST);
        img_manifest_clear(&m);
}

struct bad_case {
        const char *json;
        int code;
        const char *msg; /* a substring of the message */
};

#define CFG "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" DA "\",\"size\":1}"
#define LAYER(mt, dg, sz) "{\"mediaType\":\"" mt "\",\"digest\":\"" dg "\",\"size\":" sz "}"
#define MANIFEST(layers) "{\"schemaVersion\":2," CFG ",\"layers\":[" layers "]}"

static const struct bad_case bad_manifests[] = {
        {"", EINVAL, "empty"},
        {"{", EINVAL, "invalid JSON"},
        {"[]", EINVAL, "not a JSON object"},
        {"null", EINVAL, "invalid JSON"},
        {"{}", EINVAL, "schemaVersion"},
        {"{} x", EINVAL, "invalid JSON"},
        {"{}{}", EINVAL, "invalid JSON"},
        /* json-c 0.16 takes single quotes even in strict mode; the fields still must be right */
        {"{'schemaVersion':2}", EINVAL, "\"config\" is missing"},
        {"{\"schemaVersion\":2}", EINVAL, "\"config\" is missing"},
        {"{\"schemaVersion\":1," CFG ",\"layers\":[]}", ENOTSUP, "schemaVersion 1"},
        {"{\"schemaVersion\":\"2\"," CFG ",\"layers\":[]}", EINVAL, "schemaVersion"},
        {"{\"schemaVersion\":2," CFG "}", EINVAL, "\"layers\" is missing"},
        {"{\"schemaVersion\":2," CFG ",\"layers\":{}}", EINVAL, "\"layers\" must be"},
        {"{\"schemaVersion\":2," CFG ",\"layers\":[1]}", EINVAL, "layer 0: not an object"},
        {"{\"schemaVersion\":2,\"config\":[]," CFG ",\"layers\":[]}", 0, NULL}, /* last wins */
        {"{\"schemaVersion\":2,\"config\":\"x\",\"layers\":[]}", EINVAL, "\"config\" must be"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"size\":1},"
         "\"layers\":[]}",
         EINVAL, "\"digest\" is missing"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" DA
         "\"},\"layers\":[]}",
         EINVAL, "\"size\" is missing"},
        {"{\"schemaVersion\":2,\"config\":{\"digest\":\"" DA "\",\"size\":1},\"layers\":[]}",
         EINVAL, "\"mediaType\" is missing"},
        {"{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.cncf.helm.config.v1+"
         "json\",\"digest\":\"" DA "\",\"size\":1},\"layers\":[]}",
         ENOTSUP, "not a container image"},
        {MANIFEST(LAYER(MT_GZIP, "sha256:ABC", "1")), EINVAL, "sha256:ABC"},
        {MANIFEST(LAYER(MT_GZIP,
                        "sha256:4FBEC69B941195FD56F8212A5000E304129451D82EFCA94FF0E0F"
                        "B2D5355472E",
                        "1")),
         EINVAL, "digest"},
        {MANIFEST(LAYER(MT_GZIP, "sha256:\\u0000abc", "1")), EINVAL, "NUL"},
        {MANIFEST(LAYER(MT_GZIP, DA, "-1")), EINVAL, "size -1"},
        {MANIFEST(LAYER(MT_GZIP, DA, "1.5")), EINVAL, "\"size\" must be"},
        {MANIFEST(LAYER(MT_GZIP, DA, "1e3")), EINVAL, "\"size\" must be"},
        {MANIFEST(LAYER(MT_GZIP, DA, "\"12\"")), EINVAL, "\"size\" must be"},
        {MANIFEST(LAYER(MT_GZIP, DA, "null")), EINVAL, "\"size\" is missing"},
        {MANIFEST(LAYER(MT_GZIP, DA, "99999999999999999999")), EINVAL, "out of range"},
        {MANIFEST(LAYER(MT_GZIP, DA, "9223372036854775807")), EINVAL, "out of range"},
        {MANIFEST(LAYER(MT_GZIP, DA, "9223372036854775806")), 0, NULL},
        {MANIFEST(LAYER("application/vnd.oci.image.layer.v1.tar+encrypted", DA, "1")), ENOTSUP,
         "unsupported mediaType"},
        {MANIFEST(LAYER(MT_OCI_CONFIG, DA, "1")), ENOTSUP, "layer 0: unsupported"},
        {MANIFEST(LAYER(MT_GZIP, DA, "1") "," LAYER("text plain", DA, "1")), EINVAL,
         "layer 1: malformed mediaType"},
        {MANIFEST(LAYER("", DA, "1")), EINVAL, "malformed mediaType"},
        {"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\"," CFG
         ",\"layers\":[]}",
         EINVAL, "is an index, not a manifest"},
        {"{\"schemaVersion\":2,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+"
         "prettyjws\"," CFG ",\"layers\":[]}",
         ENOTSUP, "unsupported mediaType"},
        {"{\"schemaVersion\":2,\"mediaType\":7," CFG ",\"layers\":[]}", EINVAL, "\"mediaType\""},
        {"{\"schemaVersion\":2,\"a\":\"\xff\"," CFG ",\"layers\":[]}", EINVAL, "invalid JSON"},
};

static void check_bad(const struct bad_case *c, int r, struct uvm_error *err)
{
        if (c->code == 0) {
                assert_int_equal(r, 0);
                assert_null(err);
                return;
        }
        assert_int_equal(r, -c->code);
        assert_non_null(err);
        print_message("  -> %s\n", err->msg);
        assert_non_null(strstr(err->msg, c->msg));
}

static void manifest_refusals(void **state)
{
        (void) state;
        for (size_t i = 0; i < sizeof(bad_manifests) / sizeof(bad_manifests[0]); i++) {
                const struct bad_case *c = &bad_manifests[i];
                struct uvm_error *err = NULL;
                struct img_manifest m = {.n_layers = 77};
                int r;

                print_message("manifest %s\n", c->json);
                r = img_manifest_parse(c->json, strlen(c->json), &m, &err);
                check_bad(c, r, err);
                if (r < 0)
                        assert_int_equal(m.n_layers, 77); /* untouched on failure */
                else
                        img_manifest_clear(&m);
                uvm_error_free(err);
        }
}

static void manifest_bounds(void **state)
{
        struct uvm_error *err = NULL;
        struct img_manifest m = {0};
        struct sbuf deep = {0};
        char *json, *big;

        (void) state;
        json = manifest_with_layers(IMG_MAX_LAYERS);
        assert_int_equal(img_manifest_parse(json, strlen(json), &m, NULL), 0);
        assert_int_equal(m.n_layers, IMG_MAX_LAYERS);
        assert_int_equal(m.layers[IMG_MAX_LAYERS - 1].size, IMG_MAX_LAYERS - 1);
        img_manifest_clear(&m);
        free(json);

        json = manifest_with_layers(IMG_MAX_LAYERS + 1);
        assert_int_equal(img_manifest_parse(json, strlen(json), &m, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "257 layers"));
        err = uvm_error_free(err);
        free(json);

        /* a NUL inside the given length */
        assert_int_equal(img_manifest_parse("{}\0{}", 5, &m, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "NUL"));
        err = uvm_error_free(err);

        /* larger than IMG_MAX_JSON: refused before parsing */
        big = malloc(IMG_MAX_JSON + 1);
        assert_non_null(big);
        memset(big, ' ', IMG_MAX_JSON + 1);
        big[0] = '{';
        big[IMG_MAX_JSON] = '}';
        assert_int_equal(img_manifest_parse(big, IMG_MAX_JSON + 1, &m, &err), -EFBIG);
        err = uvm_error_free(err);
        assert_int_equal(img_config_parse(big, IMG_MAX_JSON + 1, NULL, NULL, &err), -EFBIG);
        err = uvm_error_free(err);
        free(big);

        /* nesting deeper than the tokener allows */
        for (int i = 0; i < 200; i++)
                sb_add(&deep, "{\"a\":");
        sb_add(&deep, "1");
        for (int i = 0; i < 200; i++)
                sb_add(&deep, "}");
        assert_int_equal(img_manifest_parse(deep.s, deep.len, &m, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "invalid JSON"));
        err = uvm_error_free(err);
        free(deep.s);

        /* only len bytes are read: a valid prefix of a longer buffer */
        json = manifest_with_layers(1);
        assert_int_equal(img_manifest_parse(json, strlen(json) - 1, &m, &err), -EINVAL);
        err = uvm_error_free(err);
        free(json);
}

/* ---- indexes ---- */

static void oci_index_selection(void **state)
{
        struct uvm_error *err = NULL;
        struct img_index ix = {0};
        size_t len;
        char *json = fixture("oci_index.json", &len);

        (void) state;
        assert_int_equal(img_index_parse(json, len, &ix, &err), 0);
        assert_int_equal(ix.kind, IMG_MEDIA_OCI_INDEX);
        assert_int_equal(ix.n_manifests, 6);
        assert_string_equal(ix.manifests[0].digest, DA);
        assert_int_equal(ix.manifests[0].size, 100);
        assert_string_equal(ix.manifests[0].os, "linux");
        assert_string_equal(ix.manifests[0].arch, "amd64");
        assert_null(ix.manifests[0].variant);
        assert_string_equal(ix.manifests[0].ref_name, "1.36");
        assert_string_equal(ix.manifests[1].variant, "v6");
        assert_null(ix.manifests[1].ref_name);
        assert_string_equal(ix.manifests[4].media_type, "application/vnd.in-toto+json");

        assert_int_equal(img_index_select(&ix, "linux", "amd64", NULL), 0);
        assert_int_equal(img_index_select(&ix, "linux", "amd64", "v1"), 0);
        assert_int_equal(img_index_select(&ix, "linux", "amd64", "v2"), -ENOENT);
        assert_int_equal(img_index_select(&ix, "linux", "arm", NULL), 1);
        assert_int_equal(img_index_select(&ix, "linux", "arm", "v6"), 1);
        assert_int_equal(img_index_select(&ix, "linux", "arm", "v7"), 2);
        assert_int_equal(img_index_select(&ix, "linux", "arm", "v5"), -ENOENT);
        assert_int_equal(img_index_select(&ix, "linux", "arm64", NULL), 3);
        assert_int_equal(img_index_select(&ix, "linux", "arm64", "v8"), 3);
        assert_int_equal(img_index_select(&ix, "linux", "arm64", "v9"), -ENOENT);
        assert_int_equal(img_index_select(&ix, "windows", "amd64", NULL), -ENOENT);
        assert_int_equal(img_index_select(&ix, "linux", "s390x", NULL), -ENOENT);
        assert_int_equal(img_index_select(&ix, NULL, "amd64", NULL), -EINVAL);
        assert_int_equal(img_index_select(NULL, "linux", "amd64", NULL), -EINVAL);
        img_index_clear(&ix);
        assert_null(ix.manifests);
        img_index_clear(NULL);
        free(json);
}

/* Entries that are not image manifests (attestations as artifacts) are skipped. */
static void index_skips_non_manifests(void **state)
{
        static const char json[] =
                "{\"schemaVersion\":2,\"manifests\":["
                "{\"mediaType\":\"application/vnd.in-toto+json\",\"digest\":\"" DA "\",\"size\":1,"
                "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
                "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" DB "\",\"size\":1},"
                "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"" DC
                "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
        struct img_index ix = {0};

        (void) state;
        assert_int_equal(img_index_parse(json, strlen(json), &ix, NULL), 0);
        assert_int_equal(ix.kind, IMG_MEDIA_OCI_INDEX);
        assert_int_equal(ix.n_manifests, 3);
        assert_null(ix.manifests[1].os);
        assert_int_equal(img_index_select(&ix, "linux", "amd64", NULL), -ENOENT);
        img_index_clear(&ix);
}

static void docker_list_selection(void **state)
{
        struct img_index ix = {0};
        size_t len;
        char *json = fixture("docker_list.json", &len);

        (void) state;
        assert_int_equal(img_index_parse(json, len, &ix, NULL), 0);
        assert_int_equal(ix.kind, IMG_MEDIA_DOCKER_LIST);
        assert_int_equal(ix.n_manifests, 3);
        assert_int_equal(img_index_select(&ix, "windows", "amd64", NULL), 0);
        assert_int_equal(img_index_select(&ix, "linux", "arm64", NULL), 1);
        assert_int_equal(img_index_select(&ix, "linux", "arm64", "v8"), 1);
        /* "v1" written out matches a request with no variant and with "v1" */
        assert_int_equal(img_index_select(&ix, "linux", "amd64", NULL), 2);
        assert_int_equal(img_index_select(&ix, "linux", "amd64", "v1"), 2);
        assert_int_equal(img_index_select(&ix, "linux", "amd64", "v3"), -ENOENT);
        img_index_clear(&ix);
        free(json);

        /* no mediaType: a list of docker manifests is a docker list */
        static const char bare[] =
                "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
                "\"application/vnd.docker.distribution.manifest.v2+json\",\"digest\":\"" DA
                "\",\"size\":3}]}";
        assert_int_equal(img_index_parse(bare, strlen(bare), &ix, NULL), 0);
        assert_int_equal(ix.kind, IMG_MEDIA_DOCKER_LIST);
        img_index_clear(&ix);
        /* an empty index parses and selects nothing */
        static const char empty[] = "{\"schemaVersion\":2,\"manifests\":[]}";
        assert_int_equal(img_index_parse(empty, strlen(empty), &ix, NULL), 0);
        assert_int_equal(ix.n_manifests, 0);
        assert_int_equal(img_index_select(&ix, "linux", "amd64", NULL), -ENOENT);
        img_index_clear(&ix);
}

#define ENTRY(extra)                                                                               \
        "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" DA "\",\"size\":1" extra "}"
#define INDEX(entries) "{\"schemaVersion\":2,\"manifests\":[" entries "]}"

static const struct bad_case bad_indexes[] = {
        {"{\"schemaVersion\":2}", EINVAL, "\"manifests\" is missing"},
        {"{\"schemaVersion\":2,\"manifests\":{}}", EINVAL, "\"manifests\" must be"},
        {"{\"manifests\":[]}", EINVAL, "schemaVersion"},
        {"{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\",\"manifests\":[]}", EINVAL,
         "is a manifest, not an index"},
        {"{\"schemaVersion\":2,\"mediaType\":\"application/x-y\",\"manifests\":[]}", ENOTSUP,
         "unsupported mediaType"},
        {INDEX("null"), EINVAL, "entry 0: not an object"},
        {INDEX(ENTRY("") "," ENTRY(",\"size\":-5")), EINVAL, "entry 1: size -5"},
        {INDEX("{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"md5:abc\",\"size\":1}"), EINVAL,
         "md5:abc"},
        {INDEX(ENTRY(",\"platform\":{\"architecture\":\"amd64\"}")), EINVAL, "\"os\" is missing"},
        {INDEX(ENTRY(",\"platform\":{\"os\":\"linux\"}")), EINVAL, "\"architecture\" is missing"},
        {INDEX(ENTRY(",\"platform\":{\"os\":\"\",\"architecture\":\"amd64\"}")), EINVAL,
         "\"os\" is empty"},
        {INDEX(ENTRY(",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd 64\"}")), EINVAL,
         "bad platform architecture"},
        {INDEX(ENTRY(",\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\",\"variant\":7}")),
         EINVAL, "\"variant\" must be"},
        {INDEX(ENTRY(",\"platform\":{\"os\":\"linux\",\"architecture\":"
                     "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}")),
         EINVAL, "longer than 64"},
        {INDEX(ENTRY(",\"platform\":[]")), EINVAL, "\"platform\" must be"},
        {INDEX(ENTRY(",\"annotations\":{\"org.opencontainers.image.ref.name\":1}")), EINVAL,
         "ref.name\" must be"},
        {INDEX(ENTRY(",\"platform\":null,\"annotations\":null")), 0, NULL},
};

static void index_refusals(void **state)
{
        struct sbuf b = {0};
        struct uvm_error *err = NULL;
        struct img_index ix = {.n_manifests = 77};

        (void) state;
        for (size_t i = 0; i < sizeof(bad_indexes) / sizeof(bad_indexes[0]); i++) {
                const struct bad_case *c = &bad_indexes[i];
                int r;

                print_message("index %s\n", c->json);
                r = img_index_parse(c->json, strlen(c->json), &ix, &err);
                check_bad(c, r, err);
                if (r < 0)
                        assert_int_equal(ix.n_manifests, 77);
                else
                        img_index_clear(&ix);
                ix.n_manifests = 77;
                err = uvm_error_free(err);
        }

        sb_add(&b, "{\"schemaVersion\":2,\"manifests\":[");
        for (int i = 0; i <= IMG_MAX_MANIFESTS; i++)
                sb_add(&b, "%s" ENTRY(""), i ? "," : "");
        sb_add(&b, "]}");
        assert_int_equal(img_index_parse(b.s, b.len, &ix, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "1025 entries"));
        err = uvm_error_free(err);
        free(b.s);
}

/* ---- configs ---- */

static void config_full(void **state)
{
        struct uvm_error *err = NULL;
        struct img_config c = {0};
        char **diff_ids = NULL;
        size_t len;
        char *json = fixture("config.json", &len);

        (void) state;
        assert_int_equal(img_config_parse(json, len, &c, &diff_ids, &err), 0);
        assert_null(err);
        assert_string_equal(c.entrypoint[0], "/docker-entrypoint.sh");
        assert_null(c.entrypoint[1]);
        assert_string_equal(c.cmd[0], "nginx");
        assert_string_equal(c.cmd[1], "-g");
        assert_string_equal(c.cmd[2], "daemon off;");
        assert_null(c.cmd[3]);
        assert_string_equal(c.env[0],
                            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        assert_string_equal(c.env[1], "NGINX_VERSION=1.25.3");
        assert_null(c.env[2]);
        assert_string_equal(c.working_dir, "/srv");
        assert_string_equal(c.user, "1000:1000");
        assert_string_equal(c.stop_signal, "SIGQUIT");
        /* object keys; json-c keeps insertion order */
        assert_string_equal(c.exposed_ports[0], "80/tcp");
        assert_string_equal(c.exposed_ports[1], "53/udp");
        assert_null(c.exposed_ports[2]);
        assert_string_equal(c.volumes[0], "/var/cache/nginx");
        assert_null(c.volumes[1]);
        assert_string_equal(diff_ids[0], DA);
        assert_string_equal(diff_ids[1], DB);
        assert_string_equal(diff_ids[2], DC);
        assert_null(diff_ids[3]);
        img_config_clear(&c);
        assert_null(c.cmd);
        img_config_clear(&c);
        img_config_clear(NULL);
        strv_free(diff_ids);

        /* both outputs are optional */
        assert_int_equal(img_config_parse(json, len, NULL, NULL, NULL), 0);
        free(json);
}

static void config_minimal(void **state)
{
        struct img_config c = {.user = (char *) "sentinel"};
        char **diff_ids = NULL;
        size_t len;
        char *json = fixture("config_minimal.json", &len);

        (void) state;
        assert_int_equal(img_config_parse(json, len, &c, &diff_ids, NULL), 0);
        assert_null(c.entrypoint);
        assert_null(c.cmd);
        assert_null(c.env);
        assert_null(c.working_dir); /* "" is no working dir */
        assert_null(c.user);
        assert_null(c.stop_signal);
        assert_null(c.exposed_ports);
        assert_null(c.volumes);
        assert_non_null(diff_ids);
        assert_null(diff_ids[0]);
        strv_free(diff_ids);
        free(json);

        /* "config" itself may be absent */
        static const char no_config[] =
                "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\"]}}";
        assert_int_equal(img_config_parse(no_config, strlen(no_config), &c, &diff_ids, NULL), 0);
        assert_null(c.cmd);
        assert_string_equal(diff_ids[0], DA);
        strv_free(diff_ids);
}

#define ROOTFS "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}"
#define CONFIG(body) "{" ROOTFS ",\"config\":{" body "}}"

static const struct bad_case bad_configs[] = {
        {"{}", EINVAL, "\"rootfs\" is missing"},
        {"{\"rootfs\":{\"diff_ids\":[]}}", EINVAL, "\"type\" is missing"},
        {"{\"rootfs\":{\"type\":\"layer\",\"diff_ids\":[]}}", EINVAL, "rootfs type 'layer'"},
        {"{\"rootfs\":{\"type\":7,\"diff_ids\":[]}}", EINVAL, "\"type\" must be"},
        {"{\"rootfs\":{\"type\":\"layers\"}}", EINVAL, "\"diff_ids\" is missing"},
        {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":\"x\"}}", EINVAL, "\"diff_ids\" must be"},
        {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\",\"sha256:00\"]}}", EINVAL,
         "diff_id 1"},
        {"{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" DA "\",5]}}", EINVAL, "diff_id 1"},
        {"{\"rootfs\":[]}", EINVAL, "\"rootfs\" must be"},
        {"{" ROOTFS ",\"config\":[]}", EINVAL, "\"config\" must be"},
        {CONFIG("\"Cmd\":\"sh\""), EINVAL, "\"Cmd\" must be"},
        {CONFIG("\"Cmd\":[\"sh\",1]"), EINVAL, "\"Cmd\" must be a list of strings"},
        {CONFIG("\"Entrypoint\":[null]"), EINVAL, "\"Entrypoint\" must be a list of strings"},
        {CONFIG("\"Env\":[\"A=\\u0000B\"]"), EINVAL, "NUL"},
        {CONFIG("\"WorkingDir\":[]"), EINVAL, "\"WorkingDir\" must be"},
        {CONFIG("\"User\":5"), EINVAL, "\"User\" must be"},
        {CONFIG("\"StopSignal\":true"), EINVAL, "\"StopSignal\" must be"},
        {CONFIG("\"ExposedPorts\":[\"80/tcp\"]"), EINVAL, "\"ExposedPorts\" must be"},
        {CONFIG("\"ExposedPorts\":{\"abc/tcp\":{}}"), EINVAL, "bad \"ExposedPorts\" entry 'abc"},
        {CONFIG("\"ExposedPorts\":{\"0/tcp\":{}}"), EINVAL, "'0/tcp'"},
        {CONFIG("\"ExposedPorts\":{\"70000\":{}}"), EINVAL, "'70000'"},
        {CONFIG("\"ExposedPorts\":{\"080080/tcp\":{}}"), EINVAL, "'080080/tcp'"},
        {CONFIG("\"ExposedPorts\":{\"80/icmp\":{}}"), EINVAL, "'80/icmp'"},
        {CONFIG("\"ExposedPorts\":{\"80/\":{}}"), EINVAL, "'80/'"},
        {CONFIG("\"ExposedPorts\":{\"90-80\":{}}"), EINVAL, "'90-80'"},
        {CONFIG("\"ExposedPorts\":{\"80-\":{}}"), EINVAL, "'80-'"},
        {CONFIG("\"ExposedPorts\":{\" 80\":{}}"), EINVAL, "' 80'"},
        {CONFIG("\"ExposedPorts\":{\"80\":{},\"8000-8010/udp\":{},\"5/SCTP\":{}}"), 0, NULL},
        {CONFIG("\"Volumes\":{\"\":{}}"), EINVAL, "bad \"Volumes\" entry"},
        {CONFIG("\"Volumes\":\"/data\""), EINVAL, "\"Volumes\" must be"},
        {CONFIG("\"Volumes\":null,\"ExposedPorts\":{},\"Cmd\":[]"), 0, NULL},
};

static void config_refusals(void **state)
{
        (void) state;
        for (size_t i = 0; i < sizeof(bad_configs) / sizeof(bad_configs[0]); i++) {
                const struct bad_case *c = &bad_configs[i];
                struct uvm_error *err = NULL;
                struct img_config cfg = {.user = (char *) "sentinel"};
                char **diff_ids = (char **) 1;
                int r;

                print_message("config %s\n", c->json);
                r = img_config_parse(c->json, strlen(c->json), &cfg, &diff_ids, &err);
                check_bad(c, r, err);
                if (r < 0) {
                        /* outputs untouched on failure */
                        assert_string_equal(cfg.user, "sentinel");
                        assert_ptr_equal(diff_ids, (char **) 1);
                } else {
                        img_config_clear(&cfg);
                        strv_free(diff_ids);
                }
                uvm_error_free(err);
        }
}

static void config_bounds(void **state)
{
        struct uvm_error *err = NULL;
        struct img_config c = {0};
        struct sbuf b = {0};
        char *longstr;

        (void) state;
        /* 4097 Env entries */
        sb_add(&b, "{" ROOTFS ",\"config\":{\"Env\":[");
        for (int i = 0; i <= 4096; i++)
                sb_add(&b, "%s\"V%d=1\"", i ? "," : "", i);
        sb_add(&b, "]}}");
        assert_int_equal(img_config_parse(b.s, b.len, &c, NULL, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "\"Env\" has more than 4096"));
        err = uvm_error_free(err);
        free(b.s);

        /* a Cmd string longer than the kernel's MAX_ARG_STRLEN */
        longstr = malloc(200000);
        assert_non_null(longstr);
        memset(longstr, 'x', 199999);
        longstr[199999] = '\0';
        b = (struct sbuf){0};
        sb_add(&b, "{" ROOTFS ",\"config\":{\"Cmd\":[\"%s\"]}}", longstr);
        assert_int_equal(img_config_parse(b.s, b.len, &c, NULL, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "\"Cmd\" longer than"));
        err = uvm_error_free(err);
        free(b.s);
        free(longstr);

        /* 257 diff ids */
        b = (struct sbuf){0};
        sb_add(&b, "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[");
        for (int i = 0; i <= IMG_MAX_LAYERS; i++)
                sb_add(&b, "%s\"" DA "\"", i ? "," : "");
        sb_add(&b, "]}}");
        assert_int_equal(img_config_parse(b.s, b.len, &c, NULL, &err), -EINVAL);
        assert_non_null(strstr(err->msg, "257 diff_ids"));
        err = uvm_error_free(err);
        free(b.s);
}

static void info_clear(void **state)
{
        struct img_info i = {0};

        (void) state;
        img_info_clear(&i);
        img_info_clear(NULL);
        i.id = strdup(DA);
        i.repo_tags = calloc(2, sizeof(char *));
        i.repo_tags[0] = strdup("docker.io/library/busybox:latest");
        i.repo_digests = calloc(1, sizeof(char *));
        i.config.cmd = calloc(2, sizeof(char *));
        i.config.cmd[0] = strdup("sh");
        i.config.working_dir = strdup("/");
        i.username = strdup("root");
        i.pinned_or_verbose_json = strdup("{}");
        img_info_clear(&i);
        assert_null(i.id);
        assert_null(i.repo_tags);
        assert_null(i.config.cmd);
        assert_null(i.username);
}

/* ---- chain ids ---- */

static void chain_ids(void **state)
{
        char *diffs[] = {(char *) DA, (char *) DB, (char *) DC, NULL};
        char *none[] = {NULL};
        char *bad[] = {(char *) DA, (char *) "sha256:x", NULL};
        char **chain = NULL;

        (void) state;
        assert_int_equal(img_chain_ids(diffs, &chain), 0);
        assert_string_equal(chain[0], DA);
        assert_string_equal(chain[1], CHAIN1);
        assert_string_equal(chain[2], CHAIN2);
        assert_null(chain[3]);
        strv_free(chain);

        diffs[1] = NULL;
        assert_int_equal(img_chain_ids(diffs, &chain), 0);
        assert_string_equal(chain[0], DA);
        assert_null(chain[1]);
        strv_free(chain);

        assert_int_equal(img_chain_ids(none, &chain), 0);
        assert_null(chain[0]);
        strv_free(chain);

        chain = (char **) 1;
        assert_int_equal(img_chain_ids(bad, &chain), -EINVAL);
        assert_ptr_equal(chain, (char **) 1);
        assert_int_equal(img_chain_ids(NULL, &chain), -EINVAL);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(media_classification),
                cmocka_unit_test(sniffing),
                cmocka_unit_test(oci_manifest),
                cmocka_unit_test(docker_manifest),
                cmocka_unit_test(manifest_kind_without_media_type),
                cmocka_unit_test(manifest_refusals),
                cmocka_unit_test(manifest_bounds),
                cmocka_unit_test(oci_index_selection),
                cmocka_unit_test(index_skips_non_manifests),
                cmocka_unit_test(docker_list_selection),
                cmocka_unit_test(index_refusals),
                cmocka_unit_test(config_full),
                cmocka_unit_test(config_minimal),
                cmocka_unit_test(config_refusals),
                cmocka_unit_test(config_bounds),
                cmocka_unit_test(info_clear),
                cmocka_unit_test(chain_ids),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
