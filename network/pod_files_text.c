/* The text of the pod's /etc/resolv.conf, /etc/hosts and /etc/hostname
 * (pod_files.h): no file is written here. */

#ifdef _WIN32
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#endif
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "network/pod_files.h"

struct text {
        char *s;
        size_t len, cap;
        bool oom;
};

static void text_add(struct text *t, const char *fmt, ...)
{
        va_list ap;
        int n;

        if (t->oom)
                return;
        va_start(ap, fmt);
        n = vsnprintf(NULL, 0, fmt, ap);
        va_end(ap);
        if (n < 0 || t->len + (size_t) n + 1 > t->cap) {
                size_t cap = (t->len + (n < 0 ? 0 : (size_t) n) + 1) * 2;
                char *s = n < 0 ? NULL : realloc(t->s, cap);

                if (!s) {
                        t->oom = true;
                        return;
                }
                t->s = s;
                t->cap = cap;
        }
        va_start(ap, fmt);
        vsnprintf(t->s + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        t->len += (size_t) n;
}

/* The finished text (an empty string for nothing), or NULL when out of
 * memory; t is left empty. */
static char *text_take(struct text *t)
{
        char *s = t->oom ? NULL : t->s ? t->s : strdup("");

        if (t->oom)
                free(t->s);
        *t = (struct text){0};
        return s;
}

static bool token_ok(const char *s)
{
        size_t n = strlen(s);

        if (n == 0 || n > NET_POD_FILES_MAX_TOKEN)
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
        unsigned char buf[16];

        return token_ok(s) && (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1);
}

bool net_pod_files_dns_ok(enum net_pod_dns_kind kind, const char *s)
{
        if (!s)
                return false;
        switch (kind) {
        case NET_POD_DNS_SERVER:
                return ip_ok(s);
        case NET_POD_DNS_SEARCH:
                return hostname_ok(s);
        case NET_POD_DNS_OPTION:
                return token_ok(s);
        }
        return false;
}

/* Append "<keyword> a b c\n" (or one line per entry) after validating each. */
static int emit_list(struct text *t, const char *what, const char *keyword, char *const *v,
                     bool one_per_line, bool (*ok)(const char *), struct uvm_error **err)
{
        size_t n = 0;

        if (!v || !v[0])
                return 0;
        for (; v[n]; n++) {
                if (n >= NET_POD_FILES_MAX_ENTRIES)
                        return uvm_error_set(err, EINVAL, "too many DNS %s (max %d)", what,
                                             NET_POD_FILES_MAX_ENTRIES);
                if (!ok(v[n]))
                        return uvm_error_set(err, EINVAL, "invalid DNS %s '%.64s'", what, v[n]);
        }
        if (!one_per_line)
                text_add(t, "%s", keyword);
        for (size_t i = 0; i < n; i++) {
                if (one_per_line)
                        text_add(t, "%s %s\n", keyword, v[i]);
                else
                        text_add(t, " %s", v[i]);
        }
        if (!one_per_line)
                text_add(t, "\n");
        return 0;
}

void net_pod_files_clear(struct net_pod_files *f)
{
        free(f->resolv_conf);
        free(f->hosts);
        free(f->hostname);
        *f = (struct net_pod_files){0};
}

int net_pod_files_build(const struct net_pod_files_in *in, struct net_pod_files *ret,
                        struct uvm_error **err)
{
        struct net_pod_files f = {0};
        struct text t = {0};
        int r;

        if (!in || !in->hostname || !hostname_ok(in->hostname))
                return uvm_error_set(err, EINVAL, "invalid pod hostname '%.64s'",
                                     in && in->hostname ? in->hostname : "");
        if (in->ip && !ip_ok(in->ip))
                return uvm_error_set(err, EINVAL, "invalid pod IP '%.64s'", in->ip);
        r = emit_list(&t, "servers", "nameserver", in->dns_servers, true, ip_ok, err);
        if (r >= 0)
                r = emit_list(&t, "searches", "search", in->dns_searches, false, hostname_ok, err);
        if (r >= 0)
                r = emit_list(&t, "options", "options", in->dns_options, false, token_ok, err);
        f.resolv_conf = text_take(&t);
        if (r < 0) {
                net_pod_files_clear(&f);
                return r;
        }
        text_add(&t, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        if (in->ip)
                text_add(&t, "%s\t%s\n", in->ip, in->hostname);
        f.hosts = text_take(&t);
        text_add(&t, "%s\n", in->hostname);
        f.hostname = text_take(&t);
        if (!f.resolv_conf || !f.hosts || !f.hostname) {
                net_pod_files_clear(&f);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        *ret = f;
        return 0;
}
