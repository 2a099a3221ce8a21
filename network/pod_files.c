/* The pod's /etc/resolv.conf, /etc/hosts and /etc/hostname. */

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/macros.h"
#include "network/net.h"

/* Bounds on what the kubelet may hand us: each entry becomes one token of a
 * line in a file libc parses, so whitespace or control bytes would inject
 * extra directives. */
#define POD_FILES_MAX_ENTRIES 32
#define POD_FILES_MAX_TOKEN 253

static bool token_ok(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > POD_FILES_MAX_TOKEN)
                return false;
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] <= ' ' || s[i] == 0x7f || s[i] == '#' || s[i] == ';')
                        return false;
        return true;
}

static bool hostname_ok(const char *s)
{
        if (!token_ok(s) || s[0] == '-' || s[0] == '.')
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") ==
               strlen(s);
}

static bool ip_ok(const char *s)
{
        unsigned char buf[sizeof(struct in6_addr)];

        return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* Append "<keyword> a b c\n" (or one line per entry) after validating each. */
static int emit_list(FILE *f, const char *what, const char *keyword, char *const *v,
                     bool one_per_line, bool (*ok)(const char *), struct uvm_error **err)
{
        size_t n = 0;

        if (!v || !v[0])
                return 0;
        for (; v[n]; n++) {
                if (n >= POD_FILES_MAX_ENTRIES)
                        return uvm_error_set(err, EINVAL, "too many DNS %s (max %d)", what,
                                             POD_FILES_MAX_ENTRIES);
                if (!ok(v[n]))
                        return uvm_error_set(err, EINVAL, "invalid DNS %s '%.64s'", what, v[n]);
        }
        if (!one_per_line)
                fputs(keyword, f);
        for (size_t i = 0; i < n; i++) {
                if (one_per_line)
                        fprintf(f, "%s %s\n", keyword, v[i]);
                else
                        fprintf(f, " %s", v[i]);
        }
        if (!one_per_line)
                fputc('\n', f);
        return 0;
}

static int write_text(const char *dir, const char *name, char *text, size_t len,
                      struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if (asprintf(&path, "%s/%s", dir, name) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_write_atomic(path, text, len, 0644);
        if (r < 0)
                return uvm_error_set(err, -r, "write %s: %s", path, strerror(-r));
        return 0;
}

static int write_resolv(const char *dir, const struct net_pod_config *cfg, struct uvm_error **err)
{
        _cleanup_free_ char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        int r;

        if (!f)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = emit_list(f, "servers", "nameserver", cfg->dns_servers, true, ip_ok, err);
        if (r >= 0)
                r = emit_list(f, "searches", "search", cfg->dns_searches, false, hostname_ok, err);
        if (r >= 0)
                r = emit_list(f, "options", "options", cfg->dns_options, false, token_ok, err);
        if (fclose(f) != 0 && r >= 0)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        if (r < 0)
                return r;
        return write_text(dir, "resolv.conf", text, len, err);
}

static int write_hosts(const char *dir, const char *hostname, const char *ip,
                       struct uvm_error **err)
{
        _cleanup_free_ char *text = NULL;
        int n;

        n = asprintf(&text,
                     "127.0.0.1\tlocalhost\n"
                     "::1\tlocalhost ip6-localhost ip6-loopback\n"
                     "%s%s%s%s",
                     ip ? ip : "", ip ? "\t" : "", ip ? hostname : "", ip ? "\n" : "");
        if (n < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return write_text(dir, "hosts", text, (size_t) n, err);
}

int net_pod_write_files(const char *dir, const struct net_pod_config *cfg, const char *ip,
                        struct uvm_error **err)
{
        _cleanup_free_ char *hn = NULL;
        int r;

        if (!dir || !cfg || !cfg->hostname || !hostname_ok(cfg->hostname))
                return uvm_error_set(err, EINVAL, "invalid pod hostname '%.64s'",
                                     cfg && cfg->hostname ? cfg->hostname : "");
        if (ip && !ip_ok(ip))
                return uvm_error_set(err, EINVAL, "invalid pod IP '%.64s'", ip);
        r = write_resolv(dir, cfg, err);
        if (r < 0)
                return r;
        r = write_hosts(dir, cfg->hostname, ip, err);
        if (r < 0)
                return r;
        if (asprintf(&hn, "%s\n", cfg->hostname) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return write_text(dir, "hostname", hn, strlen(hn), err);
}
