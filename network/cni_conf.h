#pragma once

/*
 * CNI network configuration: the lexically first valid file in the config
 * directory (.conflist, .conf, .json) becomes the pod network, as the
 * kubelet's CNI convention says.
 */

#include <stddef.h>

#include "common/error.h"

#define CNI_MAX_PLUGINS 16

struct cni_conf {
        char *file; /* the file it came from */
        char *name; /* network name */
        char *cni_version;
        char *types[CNI_MAX_PLUGINS]; /* plugin types in chain order */
        size_t n_types;
        char *json; /* the whole list, normalised to a conflist */
};

/* Parse one file's text. A single-plugin .conf is wrapped into a list. */
int cni_conf_parse(const char *file, const char *text, struct cni_conf **ret_conf,
                   struct uvm_error **err);

/* Load the first valid config in dir whose plugins all exist in bin_dirs.
 * -ENOENT with a message naming dir when there is none. */
int cni_conf_load_dir(const char *dir, char *const *bin_dirs, struct cni_conf **ret_conf,
                      struct uvm_error **err);

/* Full path of a plugin binary, or -ENOENT. */
int cni_find_plugin(char *const *bin_dirs, const char *type, char **ret_path);

struct cni_conf *cni_conf_free(struct cni_conf *c);
