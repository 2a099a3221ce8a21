/* Seccomp profiles for containers (see seccomp.h). */

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/fs.h"
#include "sandbox/seccomp-internal.h"
#include "sandbox/seccomp.h"

#define PROFILE_MAX (1u << 20)

static json_object *names_json(const char *const *names)
{
        json_object *a = json_object_new_array();

        for (; *names; names++)
                json_object_array_add(a, json_object_new_string(*names));
        return a;
}

static json_object *rule(json_object *names, const char *action)
{
        json_object *r = json_object_new_object();

        json_object_object_add(r, "names", names);
        json_object_object_add(r, "action", json_object_new_string(action));
        return r;
}

static json_object *arg(unsigned index, uint64_t value, uint64_t value2, const char *op)
{
        json_object *a = json_object_new_object();

        json_object_object_add(a, "index", json_object_new_int64(index));
        json_object_object_add(a, "value", json_object_new_uint64(value));
        json_object_object_add(a, "valueTwo", json_object_new_uint64(value2));
        json_object_object_add(a, "op", json_object_new_string(op));
        return a;
}

static json_object *with_args(json_object *r, json_object *a)
{
        json_object *args = json_object_new_array();

        json_object_array_add(args, a);
        json_object_object_add(r, "args", args);
        return r;
}

static json_object *one_name(const char *name)
{
        return names_json((const char *const[]){name, NULL});
}

/* Everything not listed is EPERM. caps: the container's bounding set. */
static json_object *runtime_default(uint64_t caps)
{
        json_object *p = json_object_new_object(), *arches = json_object_new_array();
        json_object *rules = json_object_new_array(), *clone3;
        bool admin = caps & ((uint64_t) 1 << 21);

        json_object_object_add(p, "defaultAction", json_object_new_string("SCMP_ACT_ERRNO"));
        json_object_object_add(p, "defaultErrnoRet", json_object_new_int(EPERM));
#if defined(__x86_64__)
        json_object_array_add(arches, json_object_new_string("SCMP_ARCH_X86_64"));
        json_object_array_add(arches, json_object_new_string("SCMP_ARCH_X86"));
        json_object_array_add(arches, json_object_new_string("SCMP_ARCH_X32"));
#elif defined(__aarch64__)
        json_object_array_add(arches, json_object_new_string("SCMP_ARCH_AARCH64"));
        json_object_array_add(arches, json_object_new_string("SCMP_ARCH_ARM"));
#endif
        json_object_object_add(p, "architectures", arches);
        json_object_array_add(rules, rule(names_json(seccomp_default_allowed), "SCMP_ACT_ALLOW"));
        for (size_t i = 0; i < seccomp_default_n_personalities; i++)
                json_object_array_add(
                        rules,
                        with_args(rule(one_name("personality"), "SCMP_ACT_ALLOW"),
                                  arg(0, seccomp_default_personalities[i], 0, "SCMP_CMP_EQ")));
        for (const struct seccomp_gate *g = seccomp_default_gates; g->cap >= 0; g++)
                if (caps & ((uint64_t) 1 << g->cap))
                        json_object_array_add(rules, rule(names_json(g->names), "SCMP_ACT_ALLOW"));
        if (!admin) {
                /* clone only without namespace flags; clone3's flags sit in
                 * memory a filter cannot read: ENOSYS makes libcs fall back
                 * to clone. */
                json_object_array_add(
                        rules, with_args(rule(one_name("clone"), "SCMP_ACT_ALLOW"),
                                         arg(0, seccomp_clone_ns_flags, 0, "SCMP_CMP_MASKED_EQ")));
                clone3 = rule(one_name("clone3"), "SCMP_ACT_ERRNO");
                json_object_object_add(clone3, "errnoRet", json_object_new_int(ENOSYS));
                json_object_array_add(rules, clone3);
        }
        json_object_object_add(p, "syscalls", rules);
        return p;
}

/* Keep what the OCI spec knows of a (possibly Docker-format) profile. */
static int localhost(const char *path, json_object **ret, struct uvm_error **err)
{
        static const char *const top[] = {"defaultAction", "defaultErrnoRet", "architectures",
                                          "flags", "syscalls"};
        static const char *const rule_keys[] = {"names", "action", "errnoRet", "args"};
        _cleanup_free_ char *text = NULL;
        json_object *in, *out, *v, *rules;
        int r;

        if (path[0] != '/' || strstr(path, ".."))
                return uvm_error_set(err, EINVAL,
                                     "seccomp profile \"%s\": must be an absolute path", path);
        r = fs_read_file(path, PROFILE_MAX, &text, NULL);
        if (r < 0)
                return uvm_error_set(err, EINVAL, "seccomp profile \"%s\": %s", path, strerror(-r));
        in = json_tokener_parse(text);
        if (!in || !json_object_is_type(in, json_type_object) ||
            !json_object_object_get_ex(in, "defaultAction", &v) ||
            !json_object_is_type(v, json_type_string)) {
                json_object_put(in);
                return uvm_error_set(err, EINVAL,
                                     "seccomp profile \"%s\": not a JSON object with a "
                                     "defaultAction",
                                     path);
        }
        out = json_object_new_object();
        for (size_t i = 0; i < ARRAY_SIZE(top); i++)
                if (json_object_object_get_ex(in, top[i], &v) && strcmp(top[i], "syscalls") != 0)
                        json_object_object_add(out, top[i], json_object_get(v));
        rules = json_object_new_array();
        if (json_object_object_get_ex(in, "syscalls", &v) &&
            json_object_is_type(v, json_type_array))
                for (size_t i = 0; i < json_object_array_length(v); i++) {
                        json_object *rin = json_object_array_get_idx(v, i), *rout, *x;
                        if (!json_object_is_type(rin, json_type_object))
                                continue;
                        rout = json_object_new_object();
                        for (size_t k = 0; k < ARRAY_SIZE(rule_keys); k++)
                                if (json_object_object_get_ex(rin, rule_keys[k], &x))
                                        json_object_object_add(rout, rule_keys[k],
                                                               json_object_get(x));
                        json_object_array_add(rules, rout);
                }
        json_object_object_add(out, "syscalls", rules);
        json_object_put(in);
        *ret = out;
        return 0;
}

int seccomp_profile(const Runtime__V1__LinuxContainerSecurityContext *sc, uint64_t caps,
                    json_object **ret, struct uvm_error **err)
{
        const Runtime__V1__SecurityProfile *p = sc->seccomp;
        const char *legacy;

        /* Older kubelets still send the string form. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        legacy = sc->seccomp_profile_path;
#pragma GCC diagnostic pop

        *ret = NULL;
        if (sc->privileged)
                return 0;
        if (p) {
                switch (p->profile_type) {
                case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault:
                        *ret = runtime_default(caps);
                        return 0;
                case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Unconfined:
                        return 0;
                case RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost:
                        return localhost(p->localhost_ref ? p->localhost_ref : "", ret, err);
                default:
                        return uvm_error_set(err, EINVAL, "seccomp: unknown profile type %d",
                                             p->profile_type);
                }
        }
        if (!legacy || !*legacy || strcmp(legacy, "unconfined") == 0)
                return 0;
        if (strcmp(legacy, "runtime/default") == 0 || strcmp(legacy, "docker/default") == 0) {
                *ret = runtime_default(caps);
                return 0;
        }
        if (strncmp(legacy, "localhost/", 10) == 0)
                return localhost(legacy + 10, ret, err);
        return uvm_error_set(err, EINVAL, "seccomp_profile_path \"%s\": unknown form", legacy);
}
