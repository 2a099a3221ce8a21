#pragma once

/*
 * The hcs driver's private parts, shared by driver.c (the table, the
 * binding, events, containers), pod.c (the VM's life), nic.c (the HCN
 * namespace and the NICs), record.c (what a restarted uvmd reattaches to)
 * and docs.c (the documents sent, built by documents.h).
 */

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "network/hcn.h"
#include "sandbox/driver.h"
#include "sandbox/drivers/hcs/driver.h"
#include "sandbox/drivers/hcs/refs.h"

#define HCS_MAX_NICS 8 /* endpoints per pod */
#define HCS_ALIVE_QUERY_MS 5000
#define HCS_RECORD_FILE "hcs-pod.json"

/* The tables and settings pods are made with (driver.h). */
struct hcs_binding {
        int refs; /* atomic */
        const struct hcs_api *hcs;
        const struct hcn_api *hcn;
        const struct hcs_guest_ops *guest;
        struct drv_hcs_config cfg; /* its paths are the copies below */
        char *kernel, *initrd, *cmdline;
};

struct hcs_binding *hcs_binding_ref(struct hcs_binding *b);
struct hcs_binding *hcs_binding_unref(struct hcs_binding *b);
/* The current binding, a new reference; NULL with -ENODEV in err. */
int hcs_binding_current(struct hcs_binding **ret, struct uvm_error **err);

/* One NIC: an endpoint of the pod's namespace hot-added to the VM (the
 * endpoint id is the NIC's id too). */
struct hcs_nic {
        struct hcn_endpoint ep;
        bool on_host;  /* HCS modify Add done */
        bool in_guest; /* the guest configured it */
};

/* A NIC added to the running pod through the ComputeAgent (drv_ops.nic_add,
 * nic_ca.c): its endpoint in the pod's namespace, then a NIC as above. The
 * flags say what may exist: each is set (and recorded) before its step and
 * cleared once it is undone; ready once the add finished, cleared when a
 * delete begins (a restarted uvmd undoes what is not ready). */
#define HCS_MAX_ADDED_NICS 8
#define HCS_NIC_ID_MAX 64
struct hcs_added_nic {
        char nic_id[HCS_NIC_ID_MAX + 1]; /* the ComputeAgent's name for it */
        struct hcs_nic nic;              /* nic.ep.id: the endpoint */
        unsigned mtu;                    /* 0: the device's */
        bool in_ns;
        bool ready;
};

/* A layer VHD attached read-only to the VM at SCSI LUN lun of its one
 * controller (the agent's Disk settings find disks on the guest's only
 * SCSI host) and mounted by the guest at HCS_DISK_GUEST_ROOT<lun>. The
 * flags say what may exist, as an added NIC's: each set (and recorded)
 * before its step and cleared once it is undone; ready once attached and
 * mounted, cleared (and recorded) when a removal begins. The slot is free
 * when path is NULL. */
#define HCS_MAX_DISKS 64u /* HCS_SCSI_MAX_LUNS: LUNs of the one controller */
#define HCS_DISK_GUEST_ROOT "/run/layers/"
/* A container's scratch disk (scratch.c) is a disk too, read-write, at a
 * LUN of the same controller: scratch_of names its container, its file
 * <state dir>/scratch-<id>.vhd is uvmd's (file: it may exist, set before
 * it is made, cleared once deleted), the guest mounts it at
 * HCS_SCRATCH_GUEST_ROOT<id> (agent/scratch.h), no layer user counts it. */
#define HCS_SCRATCH_GUEST_ROOT "/run/scratch/"
struct hcs_disk {
        char *path;       /* the host's VHD */
        char *scratch_of; /* NULL: a layer */
        bool file;
        bool on_host, in_guest, ready;
        /* Known never granted to the VM (hcs_disk_add before its grant).
         * Not recorded: a disk read back from the record may have been
         * granted and is revoked at its removal (revoking an entry the
         * file lacks does no harm). */
        bool ungranted;
};

/* A container's use of layer disks (refs.h): its id and the LUNs of its
 * layers, lowest first. A disk's users are the containers that list its
 * LUN. */
#define HCS_MAX_LAYER_CTRS 64 /* containers with layers in one pod */
#define HCS_MAX_CTR_LAYERS 128

/* A host directory shared into the VM over Plan9 (shares.c) as share
 * "m<slot>" and mounted by the guest at HCS_SHARE_GUEST_ROOT<slot>, for
 * the CRI mounts of the pod's containers: one per host path, file and
 * read-only flag. A host file's share is its directory restricted to the
 * file (file, HCS's AllowedFiles): apart from the directory's own share
 * and from any other file's. Flags as a disk's; the slot is free when
 * path is NULL. */
#define HCS_MAX_SHARES 64
#define HCS_SHARE_GUEST_ROOT "/run/mounts/m"
struct hcs_share {
        char *path; /* the host's directory, UTF-8 */
        char *file; /* NULL: all of it; else the one name the guest sees */
        bool read_only;
        bool on_host, in_guest, ready;
};

/* A container's use of shares (refs.h): its id and the slots of its
 * mounts. */
#define HCS_MAX_SHARE_CTRS 64 /* containers with mounts in one pod */
#define HCS_MAX_CTR_MOUNTS 64
/* Both tables are refs.h's, a LUN or slot one of its uint8_t. */
_Static_assert(HCS_MAX_LAYER_CTRS == HCS_REFS_MAX_USERS &&
                       HCS_MAX_SHARE_CTRS == HCS_REFS_MAX_USERS &&
                       HCS_MAX_CTR_LAYERS <= HCS_REFS_MAX_NUMS &&
                       HCS_MAX_CTR_MOUNTS <= HCS_REFS_MAX_NUMS && HCS_MAX_DISKS <= 256 &&
                       HCS_MAX_SHARES <= 256,
               "the users tables of refs.h");

/*
 * Fields without a lock are changed only by pod_create, pod_reattach,
 * pod_stop and pod_free, which the sandbox layer never runs at the same
 * time for one pod (its pod lock); events read only the immutable ones and
 * those under lock.
 */
struct drv_pod {
        struct hcs_binding *b;                /* immutable, a reference */
        char *id, *system_id;                 /* immutable: "<id>", "<id>@vm" */
        char *state_dir, *record_path;        /* immutable */
        const struct drv_events *events;      /* immutable */
        struct hcs_guest_events guest_events; /* immutable, data = the pod */

        struct hcs_system *sys; /* the open handle; NULL once closed */
        /* The VM's RuntimeId (HCS's properties), the guest connection's
         * address (HvSocket); "" until the system is created or opened. */
        char runtime_id[HCN_GUID_LEN + 1];
        bool created; /* the system exists (not yet shut down or terminated) */
        bool started;
        struct hcs_guest *guest;
        bool recorded;                /* pod_create wrote the record */
        char ns_id[HCN_GUID_LEN + 1]; /* "": no namespace */
        bool ns_external; /* ns_id is the network layer's (spec's hcn_namespace): never deleted */
        char ep_ids[HCS_MAX_NICS][HCN_GUID_LEN + 1]; /* the spec's hcn_endpoints */
        size_t n_eps;
        struct hcs_nic nics[HCS_MAX_NICS]; /* n_eps of them once the namespace exists */
        /* The ComputeAgent's, changed under the sandbox layer's pod lock
         * too (nic_add, nic_modify, nic_remove). */
        struct hcs_added_nic added[HCS_MAX_ADDED_NICS];
        size_t n_added;
        /* Layer disks by LUN and their users (disks.c), changed by
         * ctr_create, ctr_delete, pod_reattach and pod_stop, which the
         * sandbox layer runs under its pod's op_lock. */
        struct hcs_disk disks[HCS_MAX_DISKS];
        struct hcs_refs users;
        /* Plan9 shares by slot and their users (shares.c), likewise. */
        struct hcs_share shares[HCS_MAX_SHARES];
        struct hcs_refs share_users;

        pthread_mutex_t lock; /* guards the fields below */
        bool quiet;           /* no pod_died: not yet up, or stopping */
        bool exited;          /* HCS or the guest reported the VM gone */
        bool died_reported;
};

/* driver.c: events from HCS and from the guest. */
void hcs_pod_on_system_event(void *data, const char *kind, const char *detail);
extern const struct hcs_guest_events hcs_pod_guest_events_template;
bool hcs_pod_exited(struct drv_pod *p);
void hcs_pod_set_quiet(struct drv_pod *p, bool quiet);
/* Events are reported from now on; false (and still quiet) when the VM
 * already exited. */
bool hcs_pod_go_live(struct drv_pod *p);

/* pod.c */
int hcs_pod_create(const struct drv_pod_spec *spec, struct drv_pod **ret_pod,
                   struct uvm_error **err);
int hcs_pod_reattach(const struct drv_pod_spec *spec, struct drv_pod **ret_pod,
                     struct uvm_error **err);
int hcs_pod_stop(struct drv_pod *p, uint32_t timeout_ms, struct uvm_error **err);
void hcs_pod_free(struct drv_pod *p);

/* An HCS call's failure as an error: "<what> <system>: <HCS's message>"
 * from its result document (or the document, or the errno text); frees
 * result. Returns r (-EIO for an r >= 0). */
int hcs_call_error(struct uvm_error **err, int r, char *result, const char *what,
                   const char *system_id);

/* nic.c: a GUID in canonical form (36 characters, either case). */
bool hcs_guid_valid(const char *s);
/* The pod's endpoints, from its spec's hcn_endpoints (NULL: none): GUIDs,
 * each once, at most HCS_MAX_NICS. */
int hcs_net_set_endpoints(struct drv_pod *p, char *const *ids, struct uvm_error **err);
/* The network layer's namespace (spec's hcn_namespace), the endpoints in
 * it already: described and made NICs, never created or deleted here. */
int hcs_net_set_namespace(struct drv_pod *p, const char *ns_id, struct uvm_error **err);
/* The namespace with the endpoints, then each NIC host first, guest second
 * (the host side removed again when the guest fails). The record (still
 * "creating") names the namespace before HCN makes it, and each NIC once it
 * is in. On failure what this call did is left for pod_undo (ns_id and the
 * flags say what exists). */
int hcs_net_setup(struct drv_pod *p, struct uvm_error **err);
/* NICs in reverse order, the ComputeAgent's first, guest first then host
 * (only while the VM runs), failures logged and ignored: the VM's end
 * drops them anyway. */
void hcs_nics_remove(struct drv_pod *p);
/* The namespace (and its endpoints' membership: the spec's and the added
 * ones in it). */
int hcs_net_delete_namespace(struct drv_pod *p, struct uvm_error **err);
/* One NIC: host first (HCS modify), then the guest, the host side removed
 * again when the guest refuses; sets on_host and in_guest. */
int hcs_nic_add(struct drv_pod *p, struct hcs_nic *nic, struct uvm_error **err);
/* One NIC: guest first, then host (while the VM runs), each flag cleared
 * once that side is gone (or was never there: -ENOENT). The first failure. */
int hcs_nic_remove(struct drv_pod *p, struct hcs_nic *nic, struct uvm_error **err);

/* nic_ca.c: the driver table's nic_add, nic_modify, nic_remove. */
int hcs_ca_nic_add(struct drv_pod *p, const char *nic_id, const struct drv_nic *nic,
                   struct uvm_error **err);
int hcs_ca_nic_modify(struct drv_pod *p, const char *nic_id, const struct drv_nic *old,
                      const struct drv_nic *nic, struct uvm_error **err);
int hcs_ca_nic_remove(struct drv_pod *p, const char *nic_id, const struct drv_nic *nic,
                      struct uvm_error **err);
/* After a reattach: the added NICs a dead uvmd left unfinished (not ready)
 * undone and forgotten; failures logged (their flags stay recorded for the
 * pod's stop to try again). */
void hcs_ca_nics_settle(struct drv_pod *p);

/* disks.c: the layer disks of container ctr_id (spec->layers: host VHD
 * paths, lowest first), each attached unless the pod has it already
 * (grant, HCS add, guest mount, each recorded before it runs), the
 * container counted as a user of each; *ret_paths (NULL-terminated, the
 * guest's mount points) for the container's create. On failure the disks
 * this call attached are removed again and the container is no user.
 * No layers: nothing, *ret_paths NULL. */
int hcs_disks_attach(struct drv_pod *p, const char *ctr_id, char *const *layers, char ***ret_paths,
                     struct uvm_error **err);
/* Container ctr_id no longer uses its disks: those without another user
 * are removed (guest unmount, then HCS remove, the record written before
 * each, then the VM's grant revoked). Failures are logged: such a disk
 * stays recorded, not ready, for a later attach of it, the pod's stop or
 * a reattach to remove. */
void hcs_disks_release(struct drv_pod *p, const char *ctr_id);
/* Every disk removed while the VM runs (failures logged and ignored: the
 * VM's end drops them), every grant revoked (a failure logged), every
 * user forgotten. With the VM gone: the grants revoked, the scratch
 * files deleted. */
void hcs_disks_remove_all(struct drv_pod *p);
/* After a reattach: what a dead uvmd left half done undone: disks not
 * ready removed, users of a removed disk forgotten, then disks without
 * users removed. */
void hcs_disks_settle(struct drv_pod *p);
/* Free the paths (pod_release). */
void hcs_disks_clear(struct drv_pod *p);
/* A new disk at a free LUN: for a scratch (scratch_of, a container id)
 * its file made first (hcs_scratch_file, recorded before), then granted,
 * attached (read-write for a scratch), mounted by the guest, each step
 * recorded before it runs. On failure what was done is removed again. */
int hcs_disk_add(struct drv_pod *p, const char *path, const char *scratch_of, unsigned *ret_lun,
                 struct uvm_error **err);
/* The disk at lun removed: guest, host, a scratch's file; failures logged. */
void hcs_disk_remove_logged(struct drv_pod *p, unsigned lun);
/* The disks and their users as refs.c sees them ("layer_users": "luns"). */
extern const struct hcs_refs_ops hcs_disk_refs;

/* scratch.c: container ctr_id's scratch disk (the binding's
 * scratch_size_gb, the guest's mount_scratch; without either none:
 * *ret_path NULL): hcs_disk_add of a new blank VHD, *ret_path its guest
 * mount point for the hosted document's ScratchDirPath. */
int hcs_scratch_attach(struct drv_pod *p, const char *ctr_id, char **ret_path,
                       struct uvm_error **err);
/* Its disk removed (guest unmount, HCS remove, file deleted), if any. */
void hcs_scratch_release(struct drv_pod *p, const char *ctr_id);
/* Make the blank VHD of a scratch disk (hcs_disk_add's first step). */
int hcs_scratch_file(struct drv_pod *p, const char *path, struct uvm_error **err);

struct json_object;

/* shares.c: the CRI mounts of container ctr_id. oci_spec_json's mounts
 * whose source is an absolute Windows path (ctr_win_mounts.c puts them
 * there: bind, "ro" or "rw", private) are host directories, or files
 * when marked DRV_HCS_MOUNT_FILE_KEY: each shared unless the pod shares
 * it already with the same read-only flag (HCS add, guest mount, each
 * recorded before it runs), the container counted as a user; *ret_spec
 * is the spec with those sources made the guest's mount points (a file:
 * <mount point>/<name>) and the markers gone (NULL when there is none).
 * On failure the shares this call made are removed again and the
 * container is no user. */
int hcs_shares_attach(struct drv_pod *p, const char *ctr_id, const char *oci_spec_json,
                      char **ret_spec, struct uvm_error **err);
/* As hcs_disks_release, hcs_disks_remove_all, hcs_disks_settle and
 * hcs_disks_clear, for shares. */
void hcs_shares_release(struct drv_pod *p, const char *ctr_id);
void hcs_shares_remove_all(struct drv_pod *p);
void hcs_shares_settle(struct drv_pod *p);
void hcs_shares_clear(struct drv_pod *p);
/* The record's "shares" and "share_users" (record.c calls these). */
int hcs_shares_record_add(struct drv_pod *p, struct json_object *o);
int hcs_shares_record_read(struct drv_pod *p, struct json_object *o);

/* record.c: <state_dir>/hcs-pod.json. pod_create writes it before each
 * step that makes something outside uvmd ("creating": what may exist so
 * far), and "ready" once the pod is up; a restarted uvmd reattaches to a
 * ready pod and undoes a creating one. */
enum hcs_record_state {
        HCS_RECORD_CREATING,
        HCS_RECORD_READY,
};

/* The system id, the namespace, the endpoints, the NICs in the guest
 * (in_guest) and the ComputeAgent's NICs with their flags, written whole
 * (platform.h's atomic write); sets recorded. */
int hcs_record_write(struct drv_pod *p, enum hcs_record_state state, struct uvm_error **err);
/* Into ns_id, ep_ids/n_eps and (for a ready pod) nics. -ENOENT (nothing
 * recorded in err) when there is no record. */
int hcs_record_read(struct drv_pod *p, enum hcs_record_state *ret_state, struct uvm_error **err);
/* Whether there is a record (or something else in its place). */
bool hcs_record_exists(struct drv_pod *p);
/* 0, or -errno after logging why (a record left behind is undone by the
 * next reattach). */
int hcs_record_remove(struct drv_pod *p);

/* docs.c: the documents, from documents.h. */
int hcs_doc_uvm(const struct hcs_binding *b, const struct drv_pod_spec *spec, const char *system_id,
                char **ret_json, struct uvm_error **err);
int hcs_doc_nic(bool add, const struct hcn_endpoint *ep, char **ret_json, struct uvm_error **err);
/* A VHD at LUN lun of controller 0 (read-only: a layer): add (path) or
 * remove. */
int hcs_doc_scsi(bool add, unsigned lun, const char *path, bool read_only, char **ret_json,
                 struct uvm_error **err);
/* scratch_path: the guest's mount of the container's scratch disk, NULL:
 * the agent's dir in the guest's tmpfs. */
int hcs_doc_hosted(const char *system_id, const struct drv_ctr_spec *spec, const char *scratch_path,
                   char **ret_json, struct uvm_error **err);
