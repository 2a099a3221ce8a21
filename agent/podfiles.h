#pragma once

/* The PodFiles guest settings {"ResolvConf", "Hosts", "Hostname"}: an hcs
 * pod's /etc files (network/pod_files.h), written for its containers' bind
 * mounts into AGENT_POD_FILES_DIR in the VM. */

#include <json-c/json.h>

#include "common/error.h"

#define AGENT_POD_FILES_DIR "/run/uvmd/pod"
#define AGENT_POD_FILES_MAX 65536 /* bytes, each */

/* Each of the three strings (all required, no NUL, at most
 * AGENT_POD_FILES_MAX bytes) replaces its file in dir atomically: a
 * container reading one sees the old or the new text. dir is made. */
int agent_podfiles_apply(json_object *settings, const char *dir, struct uvm_error **err);
