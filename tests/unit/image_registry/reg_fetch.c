/*
 * Test driver for the registry client (not part of the product), built for
 * Linux (libcurl) and, with mingw-w64, for Windows (WinHTTP, run under Wine
 * by tests/windows/registry_win_test.sh):
 *
 *   reg_fetch [OPTIONS] REF OUTDIR
 *       the manifest of REF (the linux/amd64 one when REF names an index),
 *       then its config and layer blobs, into OUTDIR, one file per digest:
 *       "manifest <digest> <media type>" (and "manifest <digest>" for the
 *       one an index named), then "blob <digest>" per blob
 *   reg_fetch [OPTIONS] blob REF DIGEST SIZE FILE
 *       one blob: "blob <digest>"
 *
 * A failure prints "error <ERRNO NAME> <message>" on stdout and the
 * message on stderr, and exits with the errno: errno numbers differ
 * between mingw and Linux, their names do not.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/macros.h"
#include "common/platform.h"
#include "image/manifest.h"
#include "image/ref.h"
#include "image/registry.h"

#define MAX_LIST 16

struct args {
        char *insecure[MAX_LIST + 1], *mirrors[MAX_LIST + 1];
        size_t n_insecure, n_mirrors;
        struct img_registry_auth auth;
        struct reg_options opts;
        char **rest; /* REF OUTDIR, or blob REF DIGEST SIZE FILE */
        int n_rest;
};

static const struct {
        int code;
        const char *name;
} names[] = {
        {ENOENT, "ENOENT"},
        {EKEYREJECTED, "EKEYREJECTED"},
        {EAGAIN, "EAGAIN"},
        {EBADMSG, "EBADMSG"},
        {ENOTSUP, "ENOTSUP"},
        {ENOSPC, "ENOSPC"},
        {ETIMEDOUT, "ETIMEDOUT"},
        {EFBIG, "EFBIG"},
        {EPROTO, "EPROTO"},
        {EINVAL, "EINVAL"},
        {EIO, "EIO"},
        {ENOMEM, "ENOMEM"},
        {EEXIST, "EEXIST"},
};

static const char *errno_name(int code)
{
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
                if (names[i].code == code)
                        return names[i].name;
        return "EOTHER";
}

static int usage(void)
{
        fprintf(stderr, "usage: reg_fetch [--insecure HOST] [--mirror REG=URL,...] [--user U "
                        "--password P | --auth B64 | --identity-token T | --registry-token T] "
                        "[--retries N] [--timeout-ms N] [--proxy URL] REF OUTDIR | blob REF "
                        "DIGEST SIZE FILE\n");
        return EINVAL;
}

static int parse_args(int argc, char **argv, struct args *a)
{
        static const struct option longopts[] = {
                {"insecure", required_argument, NULL, 'i'},
                {"mirror", required_argument, NULL, 'm'},
                {"user", required_argument, NULL, 'u'},
                {"password", required_argument, NULL, 'p'},
                {"auth", required_argument, NULL, 'a'},
                {"identity-token", required_argument, NULL, 'I'},
                {"registry-token", required_argument, NULL, 'R'},
                {"retries", required_argument, NULL, 'r'},
                {"timeout-ms", required_argument, NULL, 't'},
                {"proxy", required_argument, NULL, 'x'},
                {0},
        };
        int ch;

        while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
                switch (ch) {
                case 'i':
                        if (a->n_insecure == MAX_LIST)
                                return usage();
                        a->insecure[a->n_insecure++] = optarg;
                        break;
                case 'm':
                        if (a->n_mirrors == MAX_LIST)
                                return usage();
                        a->mirrors[a->n_mirrors++] = optarg;
                        break;
                case 'u':
                        a->auth.username = optarg;
                        break;
                case 'p':
                        a->auth.password = optarg;
                        break;
                case 'a':
                        a->auth.auth = optarg;
                        break;
                case 'I':
                        a->auth.identity_token = optarg;
                        break;
                case 'R':
                        a->auth.registry_token = optarg;
                        break;
                case 'r':
                        a->opts.retries = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 't':
                        a->opts.timeout_ms = (unsigned) strtoul(optarg, NULL, 10);
                        break;
                case 'x':
                        a->opts.proxy = optarg;
                        break;
                default:
                        return usage();
                }
        }
        a->rest = argv + optind;
        a->n_rest = argc - optind;
        a->opts.insecure_registries = a->insecure;
        a->opts.mirrors = a->mirrors;
        if (a->n_rest == 2 || (a->n_rest == 5 && STR_EQ(a->rest[0], "blob")))
                return 0;
        return usage();
}

static int fetch_blob(struct reg_client *c, const struct img_ref *ref, const char *digest,
                      int64_t size, const struct args *a, const char *path, struct uvm_error **err)
{
        int r = reg_get_blob(c, ref, digest, size, &a->auth, path, err);

        if (r >= 0)
                printf("blob %s\n", digest);
        return r;
}

/* OUTDIR/<hex of digest>, malloc'd, or NULL. */
static char *out_path(const struct args *a, const char *digest)
{
        char *path;

        return asprintf(&path, "%s/%s", a->rest[1], digest + 7) < 0 ? NULL : path;
}

/* The manifest for REF; an index is resolved to its linux/amd64 entry. */
static int fetch_manifest(struct reg_client *c, const struct img_ref *ref, const struct args *a,
                          char **ret_body, size_t *ret_len, struct uvm_error **err)
{
        _cleanup_free_ char *body = NULL, *mt = NULL, *path = NULL;
        char digest[IMG_DIGEST_LEN + 1];
        struct img_index ix = {0};
        size_t len;
        int r, i;

        r = reg_get_manifest(c, ref, NULL, &a->auth, &body, &len, &mt, digest, err);
        if (r < 0)
                return r;
        printf("manifest %s %s\n", digest, mt);
        path = out_path(a, digest);
        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_write_file_atomic(path, body, len, 0644);
        if (r < 0)
                return uvm_error_set(err, -r, "write %s", path);
        enum img_media kind = img_manifest_sniff(body, len, mt);
        if (kind != IMG_MEDIA_OCI_INDEX && kind != IMG_MEDIA_DOCKER_LIST) {
                *ret_body = TAKE_PTR(body);
                *ret_len = len;
                return 0;
        }
        r = img_index_parse(body, len, &ix, err);
        if (r < 0)
                return r;
        i = img_index_select(&ix, "linux", "amd64", NULL);
        r = i < 0 ? uvm_error_set(err, ENOENT, "no linux/amd64 manifest in %s", a->rest[0])
                  : reg_get_manifest(c, ref, ix.manifests[i].digest, &a->auth, ret_body, ret_len,
                                     NULL, digest, err);
        if (r >= 0)
                printf("manifest %s\n", digest);
        img_index_clear(&ix);
        return r;
}

static int pull(struct reg_client *c, const struct img_ref *ref, const struct args *a,
                struct uvm_error **err)
{
        _cleanup_free_ char *body = NULL;
        struct img_manifest m = {0};
        size_t len = 0;
        int r = fetch_manifest(c, ref, a, &body, &len, err);

        if (r >= 0)
                r = img_manifest_parse(body, len, &m, err);
        for (size_t i = 0; r >= 0 && i <= m.n_layers; i++) {
                const struct img_descriptor *d = i == 0 ? &m.config : &m.layers[i - 1];
                _cleanup_free_ char *path = out_path(a, d->digest);

                r = path ? fetch_blob(c, ref, d->digest, d->size, a, path, err)
                         : uvm_error_set(err, ENOMEM, "out of memory");
        }
        img_manifest_clear(&m);
        return r;
}

static int run(const struct args *a, struct uvm_error **err)
{
        bool blob = a->n_rest == 5;
        struct reg_client *c = NULL;
        struct img_ref ref = {0};
        int r;

        r = img_ref_parse(a->rest[blob ? 1 : 0], &ref, err);
        if (r >= 0)
                r = reg_client_new(&a->opts, &c, err);
        if (r >= 0 && blob)
                r = fetch_blob(c, &ref, a->rest[2], strtoll(a->rest[3], NULL, 10), a, a->rest[4],
                               err);
        else if (r >= 0)
                r = pull(c, &ref, a, err);
        img_ref_clear(&ref);
        reg_client_free(c);
        return r;
}

int main(int argc, char **argv)
{
        _cleanup_error_ struct uvm_error *err = NULL;
        struct args a = {0};
        int r;

        r = parse_args(argc, argv, &a);
        if (r)
                return r;
        r = run(&a, &err);
        if (r < 0) {
                const char *msg = err && err->msg ? err->msg : strerror(-r);

                printf("error %s %s\n", errno_name(-r), msg);
                fprintf(stderr, "reg_fetch: %s\n", msg);
        }
        fflush(stdout);
        /* An exit status is a byte where Wine hands it to Linux. */
        return r >= 0 ? 0 : -r < 256 ? -r : 1;
}
