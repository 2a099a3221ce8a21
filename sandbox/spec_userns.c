/* The user namespace part of a container's OCI spec: the pod's mappings,
 * the container's and its mounts' idmaps checked against them. The driver
 * points the "user" namespace at the pod's (see drv_pod_spec.userns_path). */

#include <errno.h>
#include <stdio.h>

#include <json-c/json.h>

#include "common/macros.h"
#include "sandbox/spec.h"

int spec_idmap_from_cri(const char *field, Runtime__V1__IDMapping *const *v, size_t n,
                        struct idmap *ret, struct uvm_error **err)
{
        *ret = (struct idmap){0};
        if (n > IDMAP_MAX)
                return uvm_error_set(err, EINVAL, "%s: %zu ranges, at most %d", field, n,
                                     IDMAP_MAX);
        for (size_t i = 0; i < n; i++)
                ret->r[i] = (struct idmap_range){v[i]->host_id, v[i]->container_id, v[i]->length};
        ret->n = n;
        return idmap_check(field, ret, err);
}

static bool pod_has_userns(const struct spec_pod *pod)
{
        return userns_map_enabled(pod->userns);
}

/* The kubelet repeats the pod's userns_options on each container: they must
 * agree, a container cannot leave or change its pod's user namespace. */
int spec_userns_check(const Runtime__V1__ContainerConfig *c, const struct spec_pod *pod,
                      struct uvm_error **err)
{
        const Runtime__V1__LinuxContainerSecurityContext *sc =
                c->linux ? c->linux->security_context : NULL;
        const Runtime__V1__UserNamespace *u =
                sc && sc->namespace_options ? sc->namespace_options->userns_options : NULL;
        const char *f = "linux.security_context.namespace_options.userns_options";
        struct userns_map m = {0};
        int r;

        if (!u)
                return 0;
        if (u->mode == RUNTIME__V1__NAMESPACE_MODE__NODE) {
                if (pod_has_userns(pod))
                        return uvm_error_set(err, EINVAL,
                                             "%s: mode NODE, but the pod has its own user "
                                             "namespace",
                                             f);
                return 0;
        }
        if (u->mode != RUNTIME__V1__NAMESPACE_MODE__POD)
                return uvm_error_set(err, EINVAL, "%s.mode: only POD and NODE are supported", f);
        if (!pod_has_userns(pod))
                return uvm_error_set(err, EINVAL,
                                     "%s: mode POD, but the pod runs in the node's user namespace",
                                     f);
        r = spec_idmap_from_cri(f, u->uids, u->n_uids, &m.uids, err);
        if (r >= 0)
                r = spec_idmap_from_cri(f, u->gids, u->n_gids, &m.gids, err);
        if (r < 0)
                return r;
        if (!idmap_equal(&m.uids, &pod->userns->uids) || !idmap_equal(&m.gids, &pod->userns->gids))
                return uvm_error_set(err, EINVAL, "%s: the mappings differ from the pod's", f);
        return 0;
}

/* [{containerID, hostID, size}], as OCI's linux.uidMappings and mounts'. */
static json_object *oci_mappings(const struct idmap *m)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; i < m->n; i++) {
                json_object *o = json_object_new_object();

                json_object_object_add(o, "containerID", json_object_new_int64(m->r[i].ctr));
                json_object_object_add(o, "hostID", json_object_new_int64(m->r[i].host));
                json_object_object_add(o, "size", json_object_new_int64(m->r[i].len));
                json_object_array_add(a, o);
        }
        return a;
}

void spec_userns_linux(const struct spec_pod *pod, json_object *linux_o)
{
        if (!pod_has_userns(pod))
                return;
        json_object_object_add(linux_o, "uidMappings", oci_mappings(&pod->userns->uids));
        json_object_object_add(linux_o, "gidMappings", oci_mappings(&pod->userns->gids));
}

/* A mount with mappings is an idmapped mount, which the agent makes with the
 * pod's user namespace: only the pod's mappings can be honoured. */
int spec_userns_mount(const Runtime__V1__Mount *m, size_t i, const struct spec_pod *pod,
                      json_object *mount, struct uvm_error **err)
{
        struct userns_map want = {0};
        char field[64];
        int r;

        if (m->n_uidmappings == 0 && m->n_gidmappings == 0)
                return 0;
        if (!pod_has_userns(pod))
                return uvm_error_set(err, EINVAL,
                                     "mounts[%zu]: uidMappings/gidMappings need a pod with its "
                                     "own user namespace",
                                     i);
        snprintf(field, sizeof(field), "mounts[%zu].uidMappings", i);
        r = spec_idmap_from_cri(field, m->uidmappings, m->n_uidmappings, &want.uids, err);
        snprintf(field, sizeof(field), "mounts[%zu].gidMappings", i);
        if (r >= 0)
                r = spec_idmap_from_cri(field, m->gidmappings, m->n_gidmappings, &want.gids, err);
        if (r < 0)
                return r;
        if (!idmap_equal(&want.uids, &pod->userns->uids) ||
            !idmap_equal(&want.gids, &pod->userns->gids))
                return uvm_error_set(err, EINVAL,
                                     "mounts[%zu]: uidMappings/gidMappings differ from the pod's "
                                     "user namespace (only its mappings can be used)",
                                     i);
        json_object_object_add(mount, "uidMappings", oci_mappings(&want.uids));
        json_object_object_add(mount, "gidMappings", oci_mappings(&want.gids));
        return 0;
}
