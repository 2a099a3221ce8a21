#pragma once

/*
 * Fake HCS, HCN and guest tables for the hcs driver's tests. Every call is
 * logged in order ("hcs.start <system> <timeout>", "guest.add_nic <ep>",
 * ...; a failed call ends in " !"), any call can be told to fail the Nth
 * time, and the fakes count what is alive so a test can check nothing was
 * left behind.
 */

#include <stdbool.h>
#include <stddef.h>

#include "network/hcn.h"
#include "sandbox/drivers/hcs/guest.h"
#include "sandbox/drivers/hcs/hcs_api.h"

#define FAKE_LOG_MAX 512
#define FAKE_LINE_MAX 160
#define FAKE_DOC_MAX 16384
/* The RuntimeId HCS's properties report for every system by default. */
#define FAKE_RUNTIME_ID "0f7e2a4c-1b3d-4e5f-8a9b-0c1d2e3f4a5b"

struct fake_world {
        char log[FAKE_LOG_MAX][FAKE_LINE_MAX];
        size_t n_log;
        /* Alive now. */
        int systems;      /* exist in HCS: created and not terminated or shut down */
        int handles;      /* open compute system handles */
        int namespaces;   /* HCN namespaces */
        int ns_members;   /* endpoints attached to a namespace */
        int host_nics;    /* NICs hot-added to a system (gone with it) */
        int guests;       /* connections to an agent */
        int guest_nics;   /* NICs configured in the guest (gone with the VM) */
        int containers;   /* in the guest (gone with the VM) */
        int host_disks;   /* SCSI attachments hot-added to a system (gone with it) */
        int guest_disks;  /* layer disks mounted in the guest (gone with the VM) */
        int host_shares;  /* Plan9 shares added to a system (gone with it) */
        int guest_shares; /* Plan9 shares mounted in the guest (gone with the VM) */
        /* Files a VM was granted and not revoked ("ID BASENAME" each, one
         * per pair as an ACL's entry): they outlive the VM. */
        char grants[80][FAKE_LINE_MAX];
        int n_grants;
        /* What the driver gave. */
        char uvm_doc[FAKE_DOC_MAX];
        char hosted_doc[FAKE_DOC_MAX];
        char scsi_doc[FAKE_DOC_MAX];  /* the last SCSI modify request */
        char ctr_layers[512];         /* the layers the guest's ctr_create got, ' '-separated */
        char plan9_doc[FAKE_DOC_MAX]; /* the last Plan9 modify request */
        char ctr_spec[FAKE_DOC_MAX];  /* the OCI spec the guest's ctr_create got */
        /* The PodFiles the guest got: resolv.conf, hosts, hostname ("": none) */
        char pod_resolv[1024], pod_hosts[1024], pod_hostname[256];
        char ns_id[HCN_GUID_LEN + 1];
        char nic_ns_id[HCN_GUID_LEN + 1]; /* the namespace given to guest add_nic */
        char connect_runtime_id[64];      /* the RuntimeId given to guest connect */
        char nic_mac[18], nic_ip[64];
        unsigned nic_prefix;
        /* HCS's answers. */
        const char *state;      /* properties' "State" (default "Running") */
        const char *runtime_id; /* properties' "RuntimeId" (FAKE_RUNTIME_ID; "": none) */
        /* The VM exits (HCS forgets it and reports SystemExited) right
         * after the exit_nth successful call named exit_after. */
        const char *exit_after;
        int exit_nth;
        /* Called as each call begins (after false) and once it has done
         * what it does (after true, successful calls only): a test copies
         * the state dir there to see it as a uvmd that dies at that point
         * leaves it. */
        void (*on_step)(const char *call, bool after);
        /* Registered callbacks. */
        hcs_event_fn hcs_cb;
        void *hcs_cb_data;
        const struct hcs_guest_events *guest_events;
};

extern struct fake_world fake;
extern const struct hcs_api fake_hcs;
extern const struct hcn_api fake_hcn;
extern const struct hcs_guest_ops fake_guest;

/* Forget everything: log, counts, failures, the systems HCS knows. */
void fake_reset(void);
/* The nth (1-based, counted from the reset) call named call ("hcs.start",
 * "guest.add_nic", ...) fails with -err. */
void fake_fail(const char *call, int nth, int err);
/* The log as one string, a line each ("\n"-separated, no trailing one). */
const char *fake_log_text(void);
/* How many logged calls start with prefix. */
size_t fake_log_count(const char *prefix);
/* HCS forgets every system, as after a host reboot. */
void fake_hcs_forget_all(void);
/* What is alive, summed, grants not revoked too (0: nothing left). */
int fake_live(void);
/* uvmd dies: fake_crash_save keeps what HCS and HCN hold now (systems,
 * namespaces, what is in them); fake_crash_restore brings that back as a
 * new uvmd finds it: no handle or agent connection open, no callback, an
 * empty log and no failure rules. */
void fake_crash_save(void);
void fake_crash_restore(void);
