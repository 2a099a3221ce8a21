/*
 * Test driver for the registry client (not part of the product): pulls the
 * manifest of REF (the linux/amd64 one when REF names an index) and its
 * config and layer blobs into OUTDIR, one file per digest. Prints
 * "manifest <digest> <media type>" and one "blob <digest>" per blob.
 * Exit status: 0, or the errno of the failure (ENOENT, EKEYREJECTED, ...),
 * with the error message on stderr.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "image/manifest.h"
#include "image/registry.h"

#define MAX_LIST 16

struct args {
        char *insecure[MAX_LIST + 1], *mirrors[MAX_LIST + 1];
        size_t n_insecure, n_mirrors;
        struct img_registry_auth auth;
        struct reg_options opts;
        const char *ref, *outdir;
};

static int usage(void)
{
        fprintf(stderr, "usage: reg_fetch [--insecure HOST] [--mirror REG=URL,...] [--user U "
                        "--password P | --auth B64 | --identity-token T | --registry-token T] "
                        "[--retries N] [--timeout-ms N] REF OUTDIR\n");
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
                default:
                        return usage();
                }
        }
        if (argc - optind != 2)
                return usage();
        a->ref = argv[optind];
        a->outdir = argv[optind + 1];
        a->opts.insecure_registries = a->insecure;
        a->opts.mirrors = a->mirrors;
        return 0;
}

static int fetch_blob(struct reg_client *c, const struct img_ref *ref,
                      const struct img_descriptor *d, const struct args *a, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s", a->outdir, d->digest + 7) < 0)
                return -ENOMEM;
        r = reg_get_blob(c, ref, d->digest, d->size, &a->auth, path, err);
        if (r >= 0)
                printf("blob %s\n", d->digest);
        return r;
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
        if (asprintf(&path, "%s/%s", a->outdir, digest + 7) < 0)
                return -ENOMEM;
        r = fs_write_atomic(path, body, len, 0644);
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
        r = i < 0 ? uvm_error_set(err, ENOENT, "no linux/amd64 manifest in %s", a->ref)
                  : reg_get_manifest(c, ref, ix.manifests[i].digest, &a->auth, ret_body, ret_len,
                                     NULL, digest, err);
        if (r >= 0)
                printf("manifest %s\n", digest);
        img_index_clear(&ix);
        return r;
}

static int run(const struct args *a, struct uvm_error **err)
{
        struct reg_client *c = NULL;
        struct img_ref ref = {0};
        struct img_manifest m = {0};
        _cleanup_free_ char *body = NULL;
        size_t len = 0;
        int r;

        r = img_ref_parse(a->ref, &ref, err);
        if (r >= 0)
                r = reg_client_new(&a->opts, &c, err);
        if (r >= 0)
                r = fetch_manifest(c, &ref, a, &body, &len, err);
        if (r >= 0)
                r = img_manifest_parse(body, len, &m, err);
        if (r >= 0)
                r = fetch_blob(c, &ref, &m.config, a, err);
        for (size_t i = 0; r >= 0 && i < m.n_layers; i++)
                r = fetch_blob(c, &ref, &m.layers[i], a, err);
        img_manifest_clear(&m);
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
                fprintf(stderr, "reg_fetch: %s\n", err && err->msg ? err->msg : strerror(-r));
                return -r;
        }
        return 0;
}
