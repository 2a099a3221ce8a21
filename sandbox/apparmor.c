/* The AppArmor profile a container runs under, checked against the node. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fs.h"
#include "common/macros.h"
#include "common/run.h"
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

/* apparmor_parser -K (no cache) -r (replace): the profile may be older. */
static int host_load(const char *path, struct uvm_error **err)
{
        static const char *const parsers[] = {"/sbin/apparmor_parser", "/usr/sbin/apparmor_parser"};
        _cleanup_free_ char *out = NULL;
        int status = 0, r;

        for (size_t i = 0; i < ARRAY_SIZE(parsers); i++) {
                char *argv[] = {(char *) parsers[i], "-Kr", (char *) path, NULL};

                if (access(parsers[i], X_OK) != 0)
                        continue;
                r = run_capture(argv, 30000, 64 << 10, &out, &status);
                if (r < 0)
                        return uvm_error_set(err, -r, "%s: %s", parsers[i], strerror(-r));
                if (status != 0)
                        return uvm_error_set(err, EIO, "%s -Kr %s: exit %d", parsers[i], path,
                                             status);
                return 0;
        }
        return uvm_error_set(err, ENOENT, "apparmor_parser is not installed");
}

const struct apparmor_node apparmor_host = {host_enabled, host_loaded, host_load};

/* uvmd's RuntimeDefault: what a workload needs, nothing of the node's kernel
 * settings, firmware or security state, no mounts, and signals and ptrace
 * only within the pod's own confined processes. */
const char apparmor_default_text[] =
        "#include <tunables/global>\n"
        "\n"
        "profile " APPARMOR_DEFAULT_PROFILE " flags=(attach_disconnected,mediate_deleted) {\n"
        "  #include <abstractions/base>\n"
        "\n"
        "  network,\n"
        "  capability,\n"
        "  file,\n"
        "  umount,\n"
        "  signal (receive) peer=unconfined,\n"
        "  signal (send,receive) peer=" APPARMOR_DEFAULT_PROFILE ",\n"
        "  ptrace (trace,read,tracedby,readby) peer=" APPARMOR_DEFAULT_PROFILE ",\n"
        "\n"
        "  deny mount,\n"
        "  deny pivot_root,\n"
        "  deny @{PROC}/sysrq-trigger rwklx,\n"
        "  deny @{PROC}/kcore rwklx,\n"
        "  deny @{PROC}/kmsg rwklx,\n"
        "  deny @{PROC}/sys/kernel/core_pattern w,\n"
        "  deny @{PROC}/sys/kernel/modprobe w,\n"
        "  deny @{PROC}/sys/vm/** w,\n"
        "  deny @{PROC}/sys/fs/** w,\n"
        "  deny /sys/firmware/** rwklx,\n"
        "  deny /sys/kernel/security/** rwklx,\n"
        "  deny /sys/kernel/debug/** rwklx,\n"
        "  deny /sys/power/** wklx,\n"
        "}\n";

int apparmor_load_default(const struct apparmor_node *node, const char *dir, struct uvm_error **err)
{
        _cleanup_free_ char *path = NULL;
        int r;

        if (!node->enabled() || node->loaded(APPARMOR_DEFAULT_PROFILE))
                return 0;
        if (asprintf(&path, "%s/" APPARMOR_DEFAULT_PROFILE, dir) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = fs_write_atomic(path, apparmor_default_text, strlen(apparmor_default_text), 0644);
        if (r < 0)
                return uvm_error_set(err, -r, "write %s: %s", path, strerror(-r));
        r = node->load(path, err);
        if (r < 0)
                return uvm_error_wrap(err, "load AppArmor profile " APPARMOR_DEFAULT_PROFILE);
        if (!node->loaded(APPARMOR_DEFAULT_PROFILE))
                return uvm_error_set(err, EIO,
                                     "AppArmor profile " APPARMOR_DEFAULT_PROFILE
                                     " was loaded from %s but is not listed",
                                     path);
        return 0;
}

static bool name_ok(const char *s)
{
        size_t n = strlen(s);

        return n > 0 && n <= 255 && !strpbrk(s, " \t\n\"'");
}

static const char runtime_default[] = APPARMOR_DEFAULT_PROFILE;

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
                name = runtime_default;
        else if (p && p->profile_type == RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost)
                name = p->localhost_ref ? p->localhost_ref : "";
        else if (p && p->profile_type != RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined)
                return uvm_error_set(err, EINVAL, "apparmor: unknown profile type %d",
                                     p->profile_type);
        else if (!p && !STR_EMPTY(legacy) && !STR_EQ(legacy, "unconfined"))
                name = STR_EQ(legacy, "runtime/default")        ? runtime_default
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
        if (!node->enabled() && name == runtime_default)
                return 0; /* the runtime's default here is no profile */
        if (!node->enabled())
                return uvm_error_set(err, EINVAL,
                                     "apparmor profile \"%s\" asked for, but AppArmor is not "
                                     "enabled on this node",
                                     name);
        if (!node->loaded(name))
                return uvm_error_set(
                        err, EINVAL, "apparmor profile \"%s\" is not loaded on this node%s", name,
                        name == runtime_default ? " (uvmd loads it at start-up: see its log)" : "");
        *ret = strdup(name);
        return *ret ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
}
