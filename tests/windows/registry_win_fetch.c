/*
 * The registry client as Windows builds it (WinHTTP), driven by
 * tests/windows/registry_win.py under Wine (not part of the product):
 *
 *   registry_win_fetch [OPTIONS] pull REF OUTDIR
 *       the manifest of REF, then its config and layer blobs, into OUTDIR,
 *       one file per digest (hex name): "manifest <digest> <media type>",
 *       then "blob <digest>" per blob
 *   registry_win_fetch [OPTIONS] blob REF DIGEST SIZE FILE
 *       one blob: "blob <digest>"
 *
 * A failure prints "error <ERRNO NAME> <message>" and exits 1: errno
 * numbers differ between mingw and Linux, their names do not.
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

#define MAX_LIST 8

struct args {
        char *insecure[MAX_LIST + 1];
        size_t n_insecure;
        struct img_registry_auth auth;
        struct reg_options opts;
        char **rest;
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
        fprintf(stderr, "usage: registry_win_fetch [--insecure HOST] [--user U --password P | "
                        "--auth B64 | --identity-token T | --registry-token T] [--retries N] "
                        "[--timeout-ms N] [--proxy URL] pull REF OUTDIR | blob REF DIGEST SIZE "
                        "FILE\n");
        return 2;
}

static int parse_args(int argc, char **argv, struct args *a)
{
        static const struct option longopts[] = {
                {"insecure", required_argument, NULL, 'i'},
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
        if (a->n_rest == 3 && STR_EQ(a->rest[0], "pull"))
                return 0;
        if (a->n_rest == 5 && STR_EQ(a->rest[0], "blob"))
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

static int pull(struct reg_client *c, const struct img_ref *ref, const struct args *a,
                const char *outdir, struct uvm_error **err)
{
        _cleanup_free_ char *body = NULL, *mt = NULL, *path = NULL;
        char digest[IMG_DIGEST_LEN + 1];
        struct img_manifest m = {0};
        size_t len = 0;
        int r;

        r = reg_get_manifest(c, ref, NULL, &a->auth, &body, &len, &mt, digest, err);
        if (r < 0)
                return r;
        printf("manifest %s %s\n", digest, mt);
        if (asprintf(&path, "%s/%s", outdir, digest + 7) < 0)
                return path = NULL, uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_write_file_atomic(path, body, len, 0644);
        if (r < 0)
                return uvm_error_set(err, -r, "write %s", path);
        r = img_manifest_parse(body, len, &m, err);
        for (size_t i = 0; r >= 0 && i <= m.n_layers; i++) {
                const struct img_descriptor *d = i == 0 ? &m.config : &m.layers[i - 1];

                free(path);
                if (asprintf(&path, "%s/%s", outdir, d->digest + 7) < 0)
                        return path = NULL, uvm_error_set(err, ENOMEM, "out of memory");
                r = fetch_blob(c, ref, d->digest, d->size, a, path, err);
        }
        img_manifest_clear(&m);
        return r;
}

static int run(const struct args *a, struct uvm_error **err)
{
        struct reg_client *c = NULL;
        struct img_ref ref = {0};
        int r;

        r = img_ref_parse(a->rest[1], &ref, err);
        if (r >= 0)
                r = reg_client_new(&a->opts, &c, err);
        if (r >= 0 && STR_EQ(a->rest[0], "pull"))
                r = pull(c, &ref, a, a->rest[2], err);
        else if (r >= 0)
                r = fetch_blob(c, &ref, a->rest[2], strtoll(a->rest[3], NULL, 10), a, a->rest[4],
                               err);
        img_ref_clear(&ref);
        reg_client_free(c);
        return r;
}

int main(int argc, char **argv)
{
        struct uvm_error *err = NULL;
        struct args a = {0};
        int r;

        r = parse_args(argc, argv, &a);
        if (r)
                return r;
        r = run(&a, &err);
        if (r < 0)
                printf("error %s %s\n", errno_name(-r), err && err->msg ? err->msg : strerror(-r));
        fflush(stdout);
        uvm_error_free(err);
        return r < 0 ? 1 : 0;
}
