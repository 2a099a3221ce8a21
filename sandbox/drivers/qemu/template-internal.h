#pragma once

/* VM templates: what template.c and template_build.c share. */

#include "common/error.h"
#include "sandbox/drivers/qemu/template.h"

/* Boot node's shape with a pod's device layout until its agent answers,
 * save it into <root>/<key>/ (mem, state, then meta.json last), from the
 * calling thread. The QEMU it runs dies with that thread. */
int qtpl_build(const struct qtpl_node *node, const char *root, const char *key,
               struct uvm_error **err);
