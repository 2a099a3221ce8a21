/* The PodFiles guest settings (podfiles.h). */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "agent/podfiles.h"
#include "common/fs.h"
#include "common/json.h"
#include "common/macros.h"

static const struct {
        const char *key, *file;
} podfiles[] = {
        {"ResolvConf", "resolv.conf"},
        {"Hosts", "hosts"},
        {"Hostname", "hostname"},
};

int agent_podfiles_apply(json_object *s, const char *dir, struct uvm_error **err)
{
        int r;

        /* All checked before any is written: none or all change. */
        for (size_t i = 0; i < ARRAY_SIZE(podfiles); i++) {
                json_object *v = json_object_object_get(s, podfiles[i].key);

                if (!json_object_is_type(v, json_type_string) ||
                    json_object_get_string_len(v) > AGENT_POD_FILES_MAX ||
                    strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                        return uvm_error_set(err, EINVAL,
                                             "PodFiles: %s, a string of at most %d bytes without "
                                             "NUL, is required",
                                             podfiles[i].key, AGENT_POD_FILES_MAX);
        }
        r = fs_mkdir_p(dir, 0755);
        if (r < 0)
                return uvm_error_set(err, -r, "PodFiles: create %s: %s", dir, strerror(-r));
        for (size_t i = 0; i < ARRAY_SIZE(podfiles); i++) {
                json_object *v = json_object_object_get(s, podfiles[i].key);
                char path[4096];

                if (snprintf(path, sizeof(path), "%s/%s", dir, podfiles[i].file) >=
                    (int) sizeof(path))
                        return uvm_error_set(err, ENAMETOOLONG, "PodFiles: %s: path too long", dir);
                r = fs_write_atomic(path, json_object_get_string(v),
                                    (size_t) json_object_get_string_len(v), 0644);
                if (r < 0)
                        return uvm_error_set(err, -r, "PodFiles: write %s: %s", path, strerror(-r));
        }
        return 0;
}
