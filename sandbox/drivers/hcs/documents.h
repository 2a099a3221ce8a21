#pragma once

/*
 * The Host Compute Service's schema-2 JSON documents the hcs driver sends,
 * built with json-c: the utility VM (a Linux guest booted kernel-direct, as
 * hcsshim's LCOW does), a container hosted in it, and the
 * ModifySettingRequests that hot-add or remove a NIC, a SCSI disk or a
 * Plan9 share. Portable C: built and tested on Linux and under Wine.
 *
 * Every string in a config is borrowed (the caller keeps it alive while a
 * document is built) and checked: bounded length, no control characters,
 * GUIDs in their 36-character form without braces, Windows host paths
 * absolute. Documents are returned as malloc'd UTF-8 JSON.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define HCS_GUID_LEN 36

/* hcsshim's defaults and limits (NOTES-hcsshim.md). */
#define HCS_UVM_DEFAULT_MEMORY_MB 1024u
#define HCS_UVM_MIN_MEMORY_MB 64u
#define HCS_UVM_MAX_MEMORY_MB (1024u * 1024u) /* 1 TiB */
#define HCS_UVM_DEFAULT_PROCESSORS 2u
#define HCS_SCSI_MAX_CONTROLLERS 4u
#define HCS_SCSI_MAX_LUNS 64u /* attachments per controller */
#define HCS_VPMEM_DEFAULT_COUNT 64u
#define HCS_VPMEM_MAX_COUNT 128u
#define HCS_VPMEM_DEFAULT_SIZE_BYTES (4ull << 30) /* 4 GiB */
#define HCS_VPMEM_ALIGN 4096u
#define HCS_PLAN9_DEFAULT_PORT 564u /* the 9p port LCOW's shares use */

/* The guest kernel's command line when the config gives none, as LCOW
 * boots: no legacy UARTs probed (the VM has none), reboot on panic (the VM
 * stops on reset, so a panic ends it instead of hanging), VMBus devices
 * only (pci=off), no RAM disks or ACPI PM timer to probe; rdinit is the
 * agent's init in our initrd. */
#define HCS_UVM_DEFAULT_CMDLINE                                                                    \
        "8250_core.nr_uarts=0 panic=-1 quiet pci=off brd.rd_nr=0 pmtmr=0 rdinit=/init"

/* SYSTEM and the Administrators group may bind HvSocket services of the VM
 * (hcsshim's default): uvmd runs as a service, as one of them. */
#define HCS_DEFAULT_BIND_SDDL "D:P(A;;FA;;;SY)(A;;FA;;;BA)"

/* The fixed instance GUIDs of the VM's SCSI controllers, by index: hcsshim's
 * (version-5 GUIDs of the index under a namespace of its own). A guest
 * finds controller N's disks under /sys/bus/vmbus/devices/<guid N>, so
 * these must stay what the guest side expects. */
extern const char *const hcs_scsi_controller_guids[HCS_SCSI_MAX_CONTROLLERS];

struct hcs_scsi_attachment {
        unsigned controller; /* index < hcs_uvm_config.scsi_controllers */
        unsigned lun;        /* < HCS_SCSI_MAX_LUNS */
        const char *path;    /* host path of the VHD(X) */
        bool read_only;      /* layers are; the scratch is not */
        const char *type;    /* "VirtualDisk" (NULL means that) or "PassThru" */
};

struct hcs_hvsocket_service {
        const char *service_id;   /* GUID */
        const char *bind_sddl;    /* NULL: HCS's default for the VM */
        const char *connect_sddl; /* NULL: likewise */
        bool allow_wildcard_binds;
};

struct hcs_plan9_share {
        const char *name;      /* the 9p aname the guest mounts: [A-Za-z0-9._-]{1,64} */
        const char *host_path; /* a host directory */
        uint32_t port;         /* vsock port; 0: HCS_PLAN9_DEFAULT_PORT */
        bool read_only;
        /* NULL: the whole directory. Else the one file of host_path the
         * guest may see (hcsshim's single-file mapping: Flags
         * RestrictFileAccess, "AllowedFiles": [allowed_file]): a name,
         * no separator, not "." or "..", at most HCS_FILE_NAME_MAX bytes. */
        const char *allowed_file;
};

#define HCS_FILE_NAME_MAX 255 /* bytes: the guest's NAME_MAX */

/* allowed_file's rule, for the driver's records too: UTF-8 without
 * control characters, no '\', '/' or ':', not "." or "..". -EINVAL
 * naming what; err may be NULL. */
int hcs_check_file_name(const char *what, const char *s, struct uvm_error **err);

struct hcs_net_adapter {
        const char *endpoint_id; /* the HCN endpoint's GUID: also the adapter's key */
        const char *mac;         /* "00-15-5D-12-34-56" or with ':'; NULL: HCS picks */
};

struct hcs_uvm_config {
        const char *id;    /* the compute system id, "<pod id>@vm" */
        const char *owner; /* shown by HCS as the system's owner */
        uint32_t memory_mb;
        uint32_t processors;
        bool allow_overcommit; /* memory backed by host virtual memory */
        bool deferred_commit;  /* commit on first touch: needs overcommit */
        /* Linux kernel-direct boot. */
        const char *kernel_path;    /* host path of vmlinux */
        const char *initrd_path;    /* host path of initrd.img */
        const char *kernel_cmdline; /* NULL: HCS_UVM_DEFAULT_CMDLINE */
        uint32_t scsi_controllers;  /* <= HCS_SCSI_MAX_CONTROLLERS */
        const struct hcs_scsi_attachment *scsi;
        size_t n_scsi;
        uint32_t vpmem_count; /* 0: no VirtualPMem controller */
        uint64_t vpmem_size_bytes;
        const char *default_bind_sddl; /* NULL: HCS_DEFAULT_BIND_SDDL */
        /* The HvSocket service our agent's bridge listens on (GUID, see
         * hcs_vsock_service_id), added to the service table with the
         * default bind descriptor. NULL: none. */
        const char *bridge_service_id;
        const struct hcs_hvsocket_service *hvsock;
        size_t n_hvsock;
        const struct hcs_plan9_share *shares;
        size_t n_shares;
        const struct hcs_net_adapter *nics;
        size_t n_nics;
};

/* hcsshim's defaults: 1024 MB, 2 processors (1 on a 1-CPU host), overcommit
 * on, deferred commit off, 1 SCSI controller, 64 VPMem devices of 4 GiB,
 * owner "uvmd", the default kernel command line; no id, boot files, disks,
 * shares or NICs. */
void hcs_uvm_config_init_defaults(struct hcs_uvm_config *cfg, unsigned host_cpus);

/* Normalise cfg as HCS needs it (memory rounded up to an even number of
 * MB, processors clamped to host_cpus) and check everything else: -EINVAL
 * with a message naming the field. host_cpus 0 counts as 1. */
int hcs_uvm_config_validate(struct hcs_uvm_config *cfg, unsigned host_cpus, struct uvm_error **err);

/* The UVM's ComputeSystem document (schema 2.1) for a config that passed
 * hcs_uvm_config_validate (checked again, without changing it). */
int hcs_uvm_document(const struct hcs_uvm_config *cfg, char **ret_json, struct uvm_error **err);

/* "<port as 8 hex digits>-facb-11e6-bd58-64006a7986d3": the HvSocket
 * service id that stands for a vsock port of a Linux guest. */
void hcs_vsock_service_id(uint32_t port, char ret_id[HCS_GUID_LEN + 1]);

/* Whether s is a GUID in its 36-character form (hex digits of either case,
 * no braces). */
bool hcs_guid_is_valid(const char *s);

/* A container hosted in a UVM (HostingSystemId + HostedSystem). Paths are
 * the guest's (absolute POSIX paths). */
struct hcs_hosted_config {
        const char *owner;
        const char *hosting_system_id; /* the UVM's compute system id */
        const char *bundle_path;       /* OciBundlePath */
        const char *oci_spec_json;     /* the OCI runtime spec: a JSON object */
        const char *scratch_dir_path;  /* ScratchDirPath */
        /* The image's layers as the guest mounted them, lowest first
         * ("Layers": [{"Path"}], left out when none), at most
         * HCS_HOSTED_MAX_LAYERS. */
        const char *const *layers;
        size_t n_layers;
};

#define HCS_HOSTED_MAX_LAYERS 128

#define HCS_OCI_SPEC_MAX (4u << 20) /* bytes of OCI spec JSON accepted */

int hcs_hosted_document(const struct hcs_hosted_config *cfg, char **ret_json,
                        struct uvm_error **err);

enum hcs_request_type {
        HCS_REQUEST_ADD,
        HCS_REQUEST_REMOVE,
};

/* ModifySettingRequests for HcsModifyComputeSystem. */
int hcs_modify_nic_document(enum hcs_request_type type, const struct hcs_net_adapter *nic,
                            char **ret_json, struct uvm_error **err);
/* Remove needs only att->controller and att->lun. The controller index is
 * checked against HCS_SCSI_MAX_CONTROLLERS (the VM's own count is the
 * caller's to know). */
int hcs_modify_scsi_document(enum hcs_request_type type, const struct hcs_scsi_attachment *att,
                             char **ret_json, struct uvm_error **err);
/* Remove needs only share->name and share->port. */
int hcs_modify_plan9_document(enum hcs_request_type type, const struct hcs_plan9_share *share,
                              char **ret_json, struct uvm_error **err);
