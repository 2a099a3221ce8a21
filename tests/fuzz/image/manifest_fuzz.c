/* libFuzzer harness for the image module's decoders of untrusted input:
 * manifests, indexes, configs (registry or archive JSON) and references
 * (CRI requests). Each parser must refuse bad input with an error record,
 * never crash, leak or read out of bounds; successes are exercised further. */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/ref.h"

static void check_error(int r, struct uvm_error *err)
{
        /* a failure always comes with a message; a success never leaves one */
        if ((r < 0) != (err != NULL))
                abort();
        if (err && !err->msg)
                abort();
        uvm_error_free(err);
}

static void fuzz_manifest(const char *data, size_t len)
{
        struct uvm_error *err = NULL;
        struct img_manifest m = {0};
        int r = img_manifest_parse(data, len, &m, &err);

        check_error(r, err);
        if (r < 0)
                return;
        for (size_t i = 0; i < m.n_layers; i++)
                if (!img_digest_valid(m.layers[i].digest) || m.layers[i].size < 0)
                        abort();
        img_manifest_clear(&m);
}

static void fuzz_index(const char *data, size_t len)
{
        struct uvm_error *err = NULL;
        struct img_index ix = {0};
        int r = img_index_parse(data, len, &ix, &err);

        check_error(r, err);
        if (r < 0)
                return;
        r = img_index_select(&ix, "linux", "amd64", NULL);
        if (r >= 0 && (size_t) r >= ix.n_manifests)
                abort();
        r = img_index_select(&ix, "linux", "arm64", "v8");
        if (r >= 0 && (size_t) r >= ix.n_manifests)
                abort();
        img_index_clear(&ix);
}

static void fuzz_config(const char *data, size_t len)
{
        struct uvm_error *err = NULL;
        struct img_config c = {0};
        char **diff_ids = NULL, **chain = NULL;
        int r = img_config_parse(data, len, &c, &diff_ids, &err);

        check_error(r, err);
        if (r < 0)
                return;
        if (img_chain_ids(diff_ids, &chain) < 0)
                abort(); /* diff ids that parsed are valid */
        strv_free(chain);
        strv_free(diff_ids);
        img_config_clear(&c);
}

static void fuzz_ref(const char *s)
{
        struct uvm_error *err = NULL;
        struct img_ref r = {0};
        char *again;
        int rc = img_ref_parse(s, &r, &err);

        check_error(rc, err);
        if (rc < 0)
                return;
        /* a normalised reference parses to itself */
        again = img_ref_string(&r);
        if (!again)
                abort();
        {
                struct img_ref r2 = {0};
                if (img_ref_parse(again, &r2, NULL) < 0)
                        abort();
                char *again2 = img_ref_string(&r2);
                if (!again2 || strcmp(again, again2) != 0)
                        abort();
                free(again2);
                img_ref_clear(&r2);
        }
        free(again);
        (void) img_ref_registry_host(&r);
        img_ref_clear(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *copy;

        /* the parsers take (buffer, length): give them the exact bytes, no NUL */
        copy = malloc(size ? size : 1);
        if (!copy)
                return 0;
        memcpy(copy, data, size);
        (void) img_manifest_sniff(copy, size, "application/vnd.oci.image.manifest.v1+json");
        fuzz_manifest(copy, size);
        fuzz_index(copy, size);
        fuzz_config(copy, size);
        free(copy);

        /* references are C strings */
        copy = malloc(size + 1);
        if (!copy)
                return 0;
        memcpy(copy, data, size);
        copy[size] = '\0';
        fuzz_ref(copy);
        free(copy);
        return 0;
}
