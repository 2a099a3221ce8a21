#include <stdlib.h>
#ifdef _WIN32
#include <ws2tcpip.h>
#else
#include <arpa/inet.h>
#endif
#include <string.h>

#include "service/validate.h"

int validate_string(const char *field, const char *s, size_t max, struct uvm_error **err)
{
        size_t n;

        if (STR_EMPTY(s))
                return uvm_error_set(err, EINVAL, "%s is required", field);
        n = strnlen(s, max + 1);
        if (n > max)
                return uvm_error_set(err, EINVAL, "%s is longer than %zu bytes", field, max);
        for (size_t i = 0; i < n; i++)
                if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
                        return uvm_error_set(err, EINVAL, "%s contains a control character", field);
        return 0;
}

static int one_cidr(const char *field, const char *s, size_t len, struct uvm_error **err)
{
        char buf[64], *slash, *end;
        unsigned char addr[16];
        long bits;
        int af;

        if (len == 0 || len >= sizeof(buf))
                return uvm_error_set(err, EINVAL, "%s: \"%.*s\" is not a CIDR", field, (int) len,
                                     s);
        memcpy(buf, s, len);
        buf[len] = '\0';
        slash = strchr(buf, '/');
        if (!slash)
                return uvm_error_set(err, EINVAL, "%s: \"%s\" has no prefix length", field, buf);
        *slash = '\0';
        af = strchr(buf, ':') ? AF_INET6 : AF_INET;
        if (inet_pton(af, buf, addr) != 1)
                return uvm_error_set(err, EINVAL, "%s: \"%s\" is not an IP address", field, buf);
        bits = strtol(slash + 1, &end, 10);
        if (!slash[1] || *end || bits < 0 || bits > (af == AF_INET ? 32 : 128))
                return uvm_error_set(err, EINVAL, "%s: bad prefix length \"%s\"", field, slash + 1);
        return 0;
}

int validate_cidrs(const char *field, const char *s, struct uvm_error **err)
{
        const char *comma;
        int r;

        if (STR_EMPTY(s))
                return uvm_error_set(err, EINVAL, "%s is required", field);
        comma = strchr(s, ',');
        if (comma && strchr(comma + 1, ','))
                return uvm_error_set(err, EINVAL, "%s: at most two CIDRs (one per family)", field);
        r = one_cidr(field, s, comma ? (size_t) (comma - s) : strlen(s), err);
        if (r == 0 && comma)
                r = one_cidr(field, comma + 1, strlen(comma + 1), err);
        return r;
}

static int check_components(const char *field, const char *s, struct uvm_error **err)
{
        const char *p = s;

        while (*p) {
                const char *e = p + strcspn(p, "/"); /* strchrnul: glibc's */
                if (e - p == 2 && p[0] == '.' && p[1] == '.')
                        return uvm_error_set(err, EINVAL, "%s: \"%s\" must not contain \"..\"",
                                             field, s);
                p = *e ? e + 1 : e;
        }
        return 0;
}

int validate_relative_path(const char *field, const char *s, struct uvm_error **err)
{
        int r = validate_string(field, s, 4095, err);

        if (r < 0)
                return r;
        if (s[0] == '/')
                return uvm_error_set(err, EINVAL, "%s: \"%s\" must be a relative path", field, s);
        return check_components(field, s, err);
}

int validate_absolute_path(const char *field, const char *s, struct uvm_error **err)
{
        int r = validate_string(field, s, 4095, err);

        if (r < 0)
                return r;
        if (s[0] != '/')
                return uvm_error_set(err, EINVAL, "%s: \"%s\" must be an absolute path", field, s);
        return check_components(field, s, err);
}

#define HOSTNAME_MAX 64 /* the kernel's __NEW_UTS_LEN */

int validate_hostname(const char *field, const char *s, struct uvm_error **err)
{
        size_t n = s ? strnlen(s, HOSTNAME_MAX + 1) : 0;

        if (n == 0)
                return uvm_error_set(err, EINVAL, "%s is empty", field);
        if (n > HOSTNAME_MAX)
                return uvm_error_set(err, EINVAL,
                                     "%s '%.64s...': longer than %d bytes (the kernel's limit)",
                                     field, s, HOSTNAME_MAX);
        if (s[0] == '-' || s[0] == '.' ||
            strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") != n)
                return uvm_error_set(err, EINVAL,
                                     "%s '%s': only letters, digits, '-' and '.', not first '-' "
                                     "or '.'",
                                     field, s);
        return 0;
}

#define SYSCTL_NAME_MAX 128
#define SYSCTL_VALUE_MAX 4096

int validate_sysctl(const char *name, const char *value, struct uvm_error **err)
{
        size_t n = name ? strnlen(name, SYSCTL_NAME_MAX + 1) : 0;

        if (n == 0 || n > SYSCTL_NAME_MAX || name[0] == '.' || name[0] == '/' ||
            strstr(name, "..") || strstr(name, "//") ||
            strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./") != n)
                return uvm_error_set(err, EINVAL, "sysctl name '%.128s' is not valid",
                                     name ? name : "");
        if (!value || strnlen(value, SYSCTL_VALUE_MAX + 1) > SYSCTL_VALUE_MAX ||
            strpbrk(value, "\n"))
                return uvm_error_set(err, EINVAL,
                                     "sysctl %s: value must be one line of at most %d bytes", name,
                                     SYSCTL_VALUE_MAX);
        return 0;
}
