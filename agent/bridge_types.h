#pragma once

/*
 * The data the bridge carries between a host and the agent: a container to
 * create, an exec and its result, usage figures, states. The host-side
 * client (agent/client.h) and the driver table (sandbox/driver.h) both speak
 * these; they live here so the agent needs nothing from the layers above.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum drv_stream { DRV_STDOUT = 1, DRV_STDERR = 2 };

/* An image mounted read-only into a container (the ImageVolume feature). */
struct drv_image_volume {
        const char *destination; /* the spec mount with this destination and an empty source */
        char *const *layers;     /* the image's layer dirs, lowest first; NULL-terminated */
        const char *sub_path;    /* relative, without ".."; "" is the image's root */
};

struct user_db_req;
struct user_db_ids;

struct drv_ctr_spec {
        const char *id;
        char *const *layers; /* read-only layer dirs, lowest first; NULL-terminated */
        bool readonly_rootfs;
        const struct drv_image_volume *image_volumes;
        size_t n_image_volumes;
        /* The OCI runtime spec (config.json) built by the sandbox layer. The
         * driver sets root.path and the pod's namespace paths. */
        const char *oci_spec_json;
        /* CRI stdin / stdin_once: keep a pipe to the container's stdin for
         * attaches; the first attach whose stdin ends closes it. */
        bool stdin_open, stdin_once;
        /* Who the container runs as when the sandbox layer could not
         * resolve it (an hcs pod's image is only in its VM): the agent
         * resolves it in the container's rootfs (agent/user_db.h), sets the
         * spec's process.user and the ids go to *user_out. NULL: the
         * spec's process.user is final. */
        const struct user_db_req *user;
        struct user_db_ids *user_out;
};

/* ExecSync keeps at most this much of each stream (one bridge frame holds
 * both); what is beyond is dropped and the result says so. */
#define DRV_EXEC_MAX_OUTPUT (256u << 10)

struct drv_exec_spec {
        char *const *argv;  /* NULL-terminated, argv[0] required */
        int64_t timeout_ms; /* <= 0: none */
        size_t max_output;  /* per stream; beyond it output is dropped */
};

struct drv_exec_result {
        int exit_code;
        bool timed_out;
        bool out_cut, err_cut; /* output beyond max_output was dropped */
        char *out, *errout;    /* malloc'd, may be NULL when empty */
        size_t out_len, err_len;
};

void drv_exec_result_clear(struct drv_exec_result *r);

struct drv_ctr_stats {
        int64_t timestamp_ns;
        uint64_t cpu_usage_ns;
        uint64_t cpu_nano_cores; /* the rate since the last sample; set by the sandbox layer */
        uint64_t memory_usage_bytes;
        uint64_t memory_working_set_bytes;
        uint64_t memory_rss_bytes;
        uint64_t page_faults, major_page_faults;
        uint64_t process_count;
        /* The writable layer: what the container wrote, and the host
         * directory on the filesystem holding it (empty: unknown). */
        uint64_t writable_bytes, writable_inodes;
        char writable_fs[256];
};

#define DRV_MAX_INTERFACES 16

/* A pod's own usage, beyond its containers'. */
struct drv_pod_stats {
        int64_t timestamp_ns;
        struct drv_interface_stats {
                char name[16];
                uint64_t rx_bytes, rx_errors, tx_bytes, tx_errors;
        } interfaces[DRV_MAX_INTERFACES];
        size_t n_interfaces;
};

enum drv_ctr_state { DRV_CTR_CREATED, DRV_CTR_RUNNING, DRV_CTR_EXITED, DRV_CTR_UNKNOWN };
