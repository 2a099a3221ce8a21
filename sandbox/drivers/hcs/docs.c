/*
 * The documents the hcs driver sends, in one place: the UVM's from the
 * pod's sizing and the node's boot files, a NIC's ModifySettingRequest
 * and a container's hosted document. documents.h builds and checks them.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/drivers/hcs/documents-internal.h"
#include "sandbox/drivers/hcs/documents.h"
#include "sandbox/drivers/hcs/driver-internal.h"

/* Where a container's bundle and scratch live inside the VM (the agent's
 * side of the hosted document). */
#define GUEST_CTR_ROOT "/run/uvmd/c"

int hcs_doc_uvm(const struct hcs_binding *b, const struct drv_pod_spec *spec, const char *system_id,
                char **ret_json, struct uvm_error **err)
{
        struct hcs_uvm_config c;
        char bridge_id[HCS_GUID_LEN + 1], cmdline[HCS_CMDLINE_MAX + 1];
        int r;

        hcs_uvm_config_init_defaults(&c, b->cfg.host_cpus);
        c.id = system_id;
        c.memory_mb = spec->uvm.memory_mb;
        c.processors = spec->uvm.processors;
        c.allow_overcommit = spec->uvm.allow_overcommit;
        c.deferred_commit = spec->uvm.deferred_commit;
        c.kernel_path = b->cfg.kernel_path;
        c.initrd_path = b->cfg.initrd_path;
        c.kernel_cmdline = b->cfg.kernel_cmdline;
        if (b->cfg.bridge_vsock_port) {
                hcs_vsock_service_id(b->cfg.bridge_vsock_port, bridge_id);
                c.bridge_service_id = bridge_id;
                /* The agent listens on vsock, not a virtio-serial port, when
                 * it finds this (agent/guest_boot.c). */
                r = snprintf(cmdline, sizeof(cmdline), "%s uvmd.bridge_vsock=%u",
                             c.kernel_cmdline ? c.kernel_cmdline : HCS_UVM_DEFAULT_CMDLINE,
                             b->cfg.bridge_vsock_port);
                if (r < 0 || (size_t) r >= sizeof(cmdline))
                        return uvm_error_set(err, E2BIG, "kernel command line: over %d bytes",
                                             HCS_CMDLINE_MAX);
                c.kernel_cmdline = cmdline;
        }
        r = hcs_uvm_config_validate(&c, b->cfg.host_cpus, err);
        if (r >= 0)
                r = hcs_uvm_document(&c, ret_json, err);
        return r;
}

int hcs_doc_nic(bool add, const struct hcn_endpoint *ep, char **ret_json, struct uvm_error **err)
{
        struct hcs_net_adapter nic = {
                .endpoint_id = ep->id,
                .mac = ep->mac[0] ? ep->mac : NULL,
        };

        return hcs_modify_nic_document(add ? HCS_REQUEST_ADD : HCS_REQUEST_REMOVE, &nic, ret_json,
                                       err);
}

int hcs_doc_scsi(bool add, unsigned lun, const char *path, bool read_only, char **ret_json,
                 struct uvm_error **err)
{
        struct hcs_scsi_attachment a = {
                .controller = 0, .lun = lun, .path = path, .read_only = read_only};

        return hcs_modify_scsi_document(add ? HCS_REQUEST_ADD : HCS_REQUEST_REMOVE, &a, ret_json,
                                        err);
}

/* spec->layers are the guest's mount points of the layers here; the
 * scratch is the container's scratch disk's mount (scratch_path), where
 * the agent puts its overlay upper dir (agent/agent_rootfs.c), or without
 * one that dir in the guest's tmpfs; ScratchDirPath names it. */
int hcs_doc_hosted(const char *system_id, const struct drv_ctr_spec *spec, const char *scratch_path,
                   char **ret_json, struct uvm_error **err)
{
        char bundle[320], scratch[340];
        size_t n = 0;
        struct hcs_hosted_config c = {
                .owner = "uvmd",
                .hosting_system_id = system_id,
                .bundle_path = bundle,
                .oci_spec_json = spec->oci_spec_json,
                .scratch_dir_path = scratch,
        };

        if (!spec->id || !*spec->id || strlen(spec->id) > 256 || strchr(spec->id, '/'))
                return uvm_error_set(err, EINVAL, "container id '%.64s' is not usable",
                                     spec->id ? spec->id : "");
        while (spec->layers && spec->layers[n])
                n++;
        c.layers = (const char *const *) spec->layers;
        c.n_layers = n;
        snprintf(bundle, sizeof(bundle), GUEST_CTR_ROOT "/%s", spec->id);
        snprintf(scratch, sizeof(scratch), "%s/scratch", bundle);
        if (scratch_path)
                c.scratch_dir_path = scratch_path;
        return hcs_hosted_document(&c, ret_json, err);
}
