/* The Plan9 guest settings' parsing and mount data (plan9.h). */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/plan9.h"
#include "common/json.h"

static bool name_ok(const char *s)
{
        size_t n = s ? strlen(s) : 0;

        if (!n || n > PLAN9_NAME_MAX)
                return false;
        for (; *s; s++)
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
                        return false;
        return true;
}

static bool get_bool(json_object *s, const char *key, bool *ret)
{
        json_object *v = NULL;

        *ret = false;
        if (!json_object_object_get_ex(s, key, &v) || !v)
                return true;
        if (!json_object_is_type(v, json_type_boolean))
                return false;
        *ret = json_object_get_boolean(v);
        return true;
}

int plan9_parse(json_object *s, struct plan9_req *ret, struct uvm_error **err)
{
        const char *path = json_string_of(s, "Path"), *name = json_string_of(s, "AccessName");
        size_t root = strlen(PLAN9_ROOT);
        json_object *port = NULL;
        int64_t p;

        *ret = (struct plan9_req){0};
        if (!path || strncmp(path, PLAN9_ROOT, root) != 0 || !name_ok(path + root) ||
            strstr(path, "..") || strlen(path) >= sizeof(ret->path))
                return uvm_error_set(err, EINVAL, "Plan9: Path must be a name under %s",
                                     PLAN9_ROOT);
        if (!get_bool(s, "Remove", &ret->remove) || !get_bool(s, "ReadOnly", &ret->read_only))
                return uvm_error_set(err, EINVAL, "Plan9: Remove and ReadOnly are booleans");
        memcpy(ret->path, path, strlen(path) + 1);
        if (ret->remove)
                return 0;
        if (!name_ok(name))
                return uvm_error_set(err, EINVAL,
                                     "Plan9: AccessName must be 1 to %d of [A-Za-z0-9._-]",
                                     PLAN9_NAME_MAX);
        json_object_object_get_ex(s, "Port", &port);
        p = json_object_is_type(port, json_type_int) ? json_object_get_int64(port) : 0;
        /* 0xffffffff is VMADDR_PORT_ANY. */
        if (p < 1 || p >= 0xffffffffLL)
                return uvm_error_set(err, EINVAL, "Plan9: Port must be 1 to 4294967294");
        ret->port = (uint32_t) p;
        memcpy(ret->name, name, strlen(name) + 1);
        return 0;
}

int plan9_mount_data(int fd, const char *name, char *buf, size_t len)
{
        int n = snprintf(buf, len, "trans=fd,rfdno=%d,wfdno=%d,msize=%u,version=9p2000.L,aname=%s",
                         fd, fd, PLAN9_MSIZE, name);

        return n < 0 || (size_t) n >= len ? -ENOSPC : 0;
}
