/* CNI config lists: parsing and picking the directory's first valid one.
 * Portable: listing the directory and finding plugins are cni-plat.h's. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "network/cni-plat.h"
#include "network/cni_conf.h"

#define CNI_CONF_MAX_BYTES (1 << 20)

struct cni_conf *cni_conf_free(struct cni_conf *c)
{
        if (!c)
                return NULL;
        free(c->file);
        free(c->name);
        free(c->cni_version);
        for (size_t i = 0; i < c->n_types; i++)
                free(c->types[i]);
        free(c->json);
        free(c);
        return NULL;
}

static bool good_type(const char *t)
{
        if (STR_EMPTY(t) || strlen(t) > 64)
                return false;
        for (; *t; t++)
                if (!(*t >= 'a' && *t <= 'z') && !(*t >= 'A' && *t <= 'Z') &&
                    !(*t >= '0' && *t <= '9') && *t != '-' && *t != '_' && *t != '.')
                        return false;
        return true;
}

static const char *get_str(json_object *o, const char *key)
{
        json_object *v;

        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

/* Turn a single-plugin .conf into {cniVersion, name, plugins: [conf]}. */
static json_object *wrap_single(json_object *conf)
{
        json_object *list = json_object_new_object(), *plugins = json_object_new_array();

        json_object_object_add(list, "cniVersion",
                               json_object_new_string(get_str(conf, "cniVersion")));
        json_object_object_add(list, "name", json_object_new_string(get_str(conf, "name")));
        json_object_array_add(plugins, json_object_get(conf));
        json_object_object_add(list, "plugins", plugins);
        return list;
}

static int fill(struct cni_conf *c, const char *file, json_object *list, struct uvm_error **err)
{
        json_object *plugins;
        size_t n;

        if (!json_object_object_get_ex(list, "plugins", &plugins) ||
            !json_object_is_type(plugins, json_type_array))
                return uvm_error_set(err, EINVAL, "%s: \"plugins\" must be an array", file);
        n = json_object_array_length(plugins);
        if (n == 0 || n > CNI_MAX_PLUGINS)
                return uvm_error_set(err, EINVAL, "%s: expected 1 to %d plugins", file,
                                     CNI_MAX_PLUGINS);
        for (size_t i = 0; i < n; i++) {
                json_object *p = json_object_array_get_idx(plugins, i);
                const char *t =
                        json_object_is_type(p, json_type_object) ? get_str(p, "type") : NULL;
                if (!good_type(t))
                        return uvm_error_set(err, EINVAL, "%s: plugin %zu has no valid \"type\"",
                                             file, i);
                c->types[c->n_types++] = strdup(t);
        }
        c->file = strdup(file);
        c->name = strdup(get_str(list, "name"));
        c->cni_version = strdup(get_str(list, "cniVersion"));
        c->json = strdup(json_object_to_json_string_ext(
                list, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
        if (!c->file || !c->name || !c->cni_version || !c->json)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return 0;
}

int cni_conf_parse(const char *file, const char *text, struct cni_conf **ret_conf,
                   struct uvm_error **err)
{
        json_object *root = json_tokener_parse(text), *list = NULL;
        struct cni_conf *c = NULL;
        int r;

        if (!root || !json_object_is_type(root, json_type_object)) {
                r = uvm_error_set(err, EINVAL, "%s: not a JSON object", file);
                goto out;
        }
        if (!get_str(root, "cniVersion") || !get_str(root, "name") || !*get_str(root, "name")) {
                r = uvm_error_set(err, EINVAL, "%s: \"cniVersion\" and \"name\" are required",
                                  file);
                goto out;
        }
        list = json_object_object_get_ex(root, "plugins", NULL) ? json_object_get(root)
                                                                : wrap_single(root);
        c = calloc(1, sizeof(*c));
        if (!c) {
                r = uvm_error_set(err, ENOMEM, "out of memory");
                goto out;
        }
        r = fill(c, file, list, err);
        if (r == 0)
                *ret_conf = TAKE_PTR(c);
out:
        cni_conf_free(c);
        json_object_put(list);
        json_object_put(root);
        return r;
}

static bool conf_name(const char *n)
{
        size_t l = strlen(n);

        return (l > 9 && STR_EQ(n + l - 9, ".conflist")) || (l > 5 && STR_EQ(n + l - 5, ".conf")) ||
               (l > 5 && STR_EQ(n + l - 5, ".json"));
}

static int try_file(const char *path, char *const *bin_dirs, struct cni_conf **ret_conf)
{
        _cleanup_free_ char *text = NULL;
        struct uvm_error *e = NULL;
        struct cni_conf *c = NULL;
        int r = plat_read_file(path, CNI_CONF_MAX_BYTES, &text, NULL);

        if (r < 0) {
                log_warn("CNI config '%s': %s, ignoring", path, strerror(-r));
                return r;
        }
        r = cni_conf_parse(path, text, &c, &e);
        if (r < 0) {
                log_warn("%s, ignoring", e->msg);
                uvm_error_free(e);
                return r;
        }
        for (size_t i = 0; i < c->n_types; i++) {
                _cleanup_free_ char *p = NULL;
                if (cni_find_plugin(bin_dirs, c->types[i], &p) < 0) {
                        log_warn("CNI config '%s': plugin '%s' not found, ignoring", path,
                                 c->types[i]);
                        cni_conf_free(c);
                        return -ENOENT;
                }
        }
        *ret_conf = c;
        return 0;
}

int cni_conf_load_dir(const char *dir, char *const *bin_dirs, struct cni_conf **ret_conf,
                      struct uvm_error **err)
{
        _cleanup_strv_ char **names = NULL;
        int r = cni_plat_dir_names(dir, &names, err);

        if (r < 0)
                return r;
        for (size_t i = 0; names[i]; i++) {
                _cleanup_free_ char *path = NULL;
                if (!conf_name(names[i]))
                        continue;
                path = cni_plat_path_join(dir, names[i]);
                if (path && try_file(path, bin_dirs, ret_conf) == 0)
                        return 0;
        }
        return uvm_error_set(err, ENOENT, "no valid network config found in '%s'", dir);
}
