/* libFuzzer harness for the config file parser (service/config.c).
 *
 * Input: the config file's text; a NUL byte, if any, ends it and what
 * follows is a second file merged on top (as flags are merged over the
 * file), so that every field is also replaced once set. After each merge
 * the config must still be whole: a failure leaves an error naming the file,
 * a success none, and config_validate and config_free work either way. The
 * addresses checks get the first line too. */

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "service/config.h"

static void check_whole(const struct uvmd_config *c)
{
        /* What the defaults set stays set: a failed merge keeps old values. */
        if (!c->socket || !c->state_root || !c->data_root || !c->cni_conf_dir || !c->oci_runtime ||
            !c->default_driver || !c->cni_bin_dirs || !c->cni_bin_dirs[0] || !c->qemu_binary)
                abort();
        if (c->n_handlers > UVMD_MAX_HANDLERS)
                abort();
        for (size_t i = 0; i < c->n_handlers; i++)
                if (!c->handlers[i].name || !c->handlers[i].driver)
                        abort();
        for (size_t i = 0; c->insecure_registries && c->insecure_registries[i]; i++)
                if (i >= 64)
                        abort();
        for (size_t i = 0; c->registry_mirrors && c->registry_mirrors[i]; i++)
                if (i >= 64 || !strchr(c->registry_mirrors[i], '='))
                        abort();
}

static void parse_one(struct uvmd_config *c, const char *source, const char *text)
{
        struct uvm_error *err = NULL;
        int r = config_parse(c, source, text, &err);

        if ((r < 0) != (err != NULL) || (err && (!err->msg || err->code != -r)))
                abort();
        if (err && r != -ENOMEM && !strstr(err->msg, source))
                abort();
        uvm_error_free(err);
        check_whole(c);
        err = NULL;
        r = config_validate(c, &err);
        if ((r < 0) != (err != NULL))
                abort();
        uvm_error_free(err);
}

static void addresses(const char *text)
{
        size_t n = strcspn(text, "\n");
        char *line = strndup(text, n);
        struct uvm_error *err = NULL;
        unsigned port = 0;
        bool v6;

        if (!line)
                return;
        if (config_loopback_address(line, &v6, &port, &err) == 0 && (port < 1 || port > 65535))
                abort();
        err = uvm_error_free(err);
        port = 0;
        if (config_tcp_endpoint_port(line, &port, &err) == 0 && (port < 1 || port > 65535))
                abort();
        uvm_error_free(err);
        free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *text = malloc(size + 1);
        struct uvmd_config c;
        size_t first;

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        first = strlen(text);

        config_init_defaults(&c);
        parse_one(&c, "/etc/uvmd/config.json", text);
        if (first < size)
                parse_one(&c, "second.json", text + first + 1);
        config_free(&c);
        addresses(text);
        free(text);
        return 0;
}
