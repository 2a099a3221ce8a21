/* The AppArmor profile a container runs under, checked against the node. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/fs.h"
#include "common/macros.h"
#include "sandbox/apparmor.h"

static bool host_enabled(void)
{
        _cleanup_free_ char *v = NULL;

        return fs_read_file("/sys/module/apparmor/parameters/enabled", 16, &v, NULL) >= 0 &&
               v[0] == 'Y';
}

/* /sys/kernel/security/apparmor/profiles lists "name (mode)" per line. */
static bool host_loaded(const char *profile)
{
        _cleanup_free_ char *text = NULL;
        size_t n = strlen(profile);

        if (fs_read_file("/sys/kernel/security/apparmor/profiles", 4 << 20, &text, NULL) < 0)
                return false;
        for (char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
                if (strncmp(l, profile, n) == 0 && l[n] == ' ')
                        return true;
        return false;
}

const struct apparmor_node apparmor_host = {host_enabled, host_loaded};

static bool name_ok(const char *s)
{
        size_t n = strlen(s);

        return n > 0 && n <= 255 && !strpbrk(s, " \t\n\"'");
}

int apparmor_profile(const Runtime__V1__LinuxContainerSecurityContext *sc,
                     const struct apparmor_node *node, char **ret, struct uvm_error **err)
{
        const Runtime__V1__SecurityProfile *p = sc->apparmor;
        const char *name = NULL, *legacy;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        legacy = sc->apparmor_profile;
#pragma GCC diagnostic pop
        *ret = NULL;
        if (sc->privileged)
                return 0;
        if (p && p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault)
                name = APPARMOR_DEFAULT_PROFILE;
        else if (p && p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
                name = p->localhost_ref ? p->localhost_ref : "";
        else if (p && p->profile_type != RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined)
                return uvm_error_set(err, EINVAL, "apparmor: unknown profile type %d",
                                     p->profile_type);
        else if (!p && !STR_EMPTY(legacy) && !STR_EQ(legacy, "unconfined"))
                name = STR_EQ(legacy, "runtime/default")        ? APPARMOR_DEFAULT_PROFILE
                       : strncmp(legacy, "localhost/", 10) == 0 ? legacy + 10
                                                                : NULL;
        if (!p && !STR_EMPTY(legacy) && !STR_EQ(legacy, "unconfined") && !name)
                return uvm_error_set(err, EINVAL, "apparmor_profile \"%.64s\": unknown form",
                                     legacy);
        if (!name)
                return 0;
        if (!name_ok(name))
                return uvm_error_set(err, EINVAL, "apparmor profile \"%.64s\": not a profile name",
                                     name);
        if (!node->enabled())
                return uvm_error_set(err, EINVAL,
                                     "apparmor profile \"%s\" asked for, but AppArmor is not "
                                     "enabled on this node",
                                     name);
        if (!node->loaded(name))
                return uvm_error_set(err, EINVAL,
                                     "apparmor profile \"%s\" is not loaded on this node", name);
        *ret = strdup(name);
        return *ret ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}
