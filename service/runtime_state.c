/* Daemon-wide runtime facts (runtime_state.h); portable: uvmd.exe keeps
 * the pod CIDR the same way. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <json-c/json.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "service/daemon.h"
#include "service/runtime_state.h"
#include "service/validate.h"

static char *record_path(struct uvmd *d)
{
        char *p = NULL;

        if (asprintf(&p, "%s/runtime-config.json", d->cfg.state_root) < 0)
                return NULL;
        return p;
}

int rt_load(struct uvmd *d, struct uvm_error **err)
{
        _cleanup_free_ char *path = record_path(d), *text = NULL;
        json_object *root, *v;
        int r;

        if (!path)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r = plat_read_file(path, 65536, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return uvm_error_set(err, -r, "%s: %s", path, strerror(-r));
        root = json_tokener_parse(text);
        if (root && json_object_object_get_ex(root, "podCIDR", &v) &&
            json_object_is_type(v, json_type_string) &&
            validate_cidrs("podCIDR", json_object_get_string(v), NULL) == 0) {
                pthread_mutex_lock(&d->lock);
                free(d->pod_cidr);
                d->pod_cidr = strdup(json_object_get_string(v));
                pthread_mutex_unlock(&d->lock);
        } else
                log_warn("%s: unreadable record, ignoring", path);
        json_object_put(root);
        return 0;
}

int rt_set_pod_cidr(struct uvmd *d, const char *cidr, struct uvm_error **err)
{
        _cleanup_free_ char *path = record_path(d), *copy = strdup(cidr);
        json_object *o = json_object_new_object();
        const char *text;
        int r;

        if (!path || !copy || !o) {
                json_object_put(o);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        json_object_object_add(o, "podCIDR", json_object_new_string(cidr));
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                         JSON_C_TO_STRING_NOSLASHESCAPE);
        r = plat_write_file_atomic(path, text, strlen(text), 0600);
        json_object_put(o);
        if (r < 0)
                return uvm_error_set(err, -r, "persist pod CIDR to %s: %s", path, strerror(-r));
        pthread_mutex_lock(&d->lock);
        free(d->pod_cidr);
        d->pod_cidr = TAKE_PTR(copy);
        d->health_gen++;
        pthread_mutex_unlock(&d->lock);
        log_info("pod CIDR set to %s", cidr);
        return 0;
}

char *rt_pod_cidr(struct uvmd *d)
{
        char *s;

        pthread_mutex_lock(&d->lock);
        s = d->pod_cidr ? strdup(d->pod_cidr) : NULL;
        pthread_mutex_unlock(&d->lock);
        return s;
}

bool rt_cgroup_driver_is_systemd(const struct uvmd_config *cfg)
{
        struct stat st;

        if (STR_EQ(cfg->cgroup_driver, "systemd"))
                return true;
        if (STR_EQ(cfg->cgroup_driver, "cgroupfs"))
                return false;
        /* systemd's own test for "booted with systemd" (never on Windows). */
        return stat("/run/systemd/system", &st) == 0 && S_ISDIR(st.st_mode);
}
