/* Whether KVM runs a guest here, proven the only way that counts: this
 * driver's own command line under -accel kvm booting the guest image until
 * its agent answers (a /dev/kvm that opens and even makes VMs proves
 * nothing: see the shared NOTES-qemu). The answer is kept per host boot in
 * <data_root>/qemu/kvm-proof.json, and found on a background thread, so
 * uvmd's start never waits for it. */

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "agent/client.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/run.h"
#include "sandbox/drivers/qemu/cmdline.h"
#include "sandbox/drivers/qemu/kvm_proof.h"

struct proof_job {
        char *dir, *file, *boot_id;
        struct qemu_vm vm;
        unsigned timeout_ms;
        void (*done)(bool kvm, const char *why);
};

static void job_free(struct proof_job *j)
{
        free(j->dir);
        free(j->file);
        free(j->boot_id);
        free((char *) j->vm.agent_sock);
        free((char *) j->vm.qmp_sock);
        free((char *) j->vm.console_sock);
        free((char *) j->vm.pidfile);
        free(j);
}

static int boot_id(char *ret, size_t len)
{
        _cleanup_free_ char *text = NULL;
        int r = fs_read_file("/proc/sys/kernel/random/boot_id", 128, &text, NULL);

        if (r < 0)
                return r;
        text[strcspn(text, "\n")] = '\0';
        snprintf(ret, len, "%s", text);
        return 0;
}

int qemu_kvm_proof_cached(const char *data_root, bool *ret_kvm, char *why, size_t len)
{
        _cleanup_free_ char *path = NULL, *text = NULL;
        char id[64];
        json_object *o;
        int r;

        if (asprintf(&path, "%s/qemu/kvm-proof.json", data_root) < 0 || boot_id(id, sizeof(id)) < 0)
                return -ENOENT;
        r = fs_read_file(path, 64 << 10, &text, NULL);
        if (r < 0)
                return r;
        o = json_tokener_parse(text);
        r = -ENOENT;
        if (json_object_is_type(o, json_type_object) &&
            STR_EQ(json_object_get_string(json_object_object_get(o, "bootId")) ?: "", id)) {
                *ret_kvm = json_object_get_boolean(json_object_object_get(o, "kvm"));
                snprintf(why, len, "%s",
                         json_object_get_string(json_object_object_get(o, "why")) ?: "");
                r = 0;
        }
        json_object_put(o);
        return r;
}

static void save(struct proof_job *j, bool kvm, const char *why)
{
        json_object *o = json_object_new_object();
        const char *text;

        json_object_object_add(o, "bootId", json_object_new_string(j->boot_id));
        json_object_object_add(o, "kvm", json_object_new_boolean(kvm));
        json_object_object_add(o, "why", json_object_new_string(why));
        text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        if (fs_write_atomic(j->file, text, strlen(text), 0644) < 0)
                log_warn("qemu: cannot keep the KVM proof in %s: %m", j->file);
        json_object_put(o);
}

/* Boot under KVM until the agent answers, or the deadline. */
static bool try_boot(struct proof_job *j, char *why, size_t len, bool *tried)
{
        _cleanup_error_ struct uvm_error *e = NULL;
        struct agent_client *c = NULL;
        _cleanup_free_ char *log = NULL, *tail = NULL;
        char **argv = NULL;
        pid_t pid = -1;
        bool ok = false;
        int r;

        if (qemu_argv(&j->vm, &argv, &e) < 0) {
                snprintf(why, len, "%s", e->msg);
                *tried = false; /* ours, not KVM's: not an answer to keep */
                return false;
        }
        if (asprintf(&log, "%s/qemu.log", j->dir) < 0) {
                qemu_argv_free(argv);
                snprintf(why, len, "out of memory");
                *tried = false;
                return false;
        }
        r = qemu_spawn_logged(argv, log, false, &pid, &e);
        qemu_argv_free(argv);
        if (r < 0) {
                snprintf(why, len, "%s", e->msg);
                return false;
        }
        /* QEMU makes the socket as it starts, or exits at once when KVM
         * refuses it (an MSR QEMU wants set, say): do not wait for nothing. */
        for (unsigned waited = 0; access(j->vm.agent_sock, F_OK) < 0; waited += 20) {
                if (waitpid(pid, NULL, WNOHANG) == pid || waited >= j->timeout_ms) {
                        snprintf(why, len, "QEMU exited (or never listened) under -accel kvm (%s)",
                                 log);
                        kill(pid, SIGKILL);
                        waitpid(pid, NULL, 0);
                        return false;
                }
                usleep(20000);
        }
        if (agent_client_connect(j->vm.agent_sock, j->timeout_ms, NULL, &c, &e) == 0) {
                ok = true;
                snprintf(why, len, "a guest booted under KVM and its agent answered");
                (void) agent_client_shutdown(c, NULL);
                agent_client_free(c);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        if (!ok) {
                /* QEMU's own words say most (an MSR it could not set, say). */
                if (fs_read_file(log, 64 << 10, &tail, NULL) >= 0)
                        tail[strcspn(tail, "\n")] = '\0';
                snprintf(why, len, "no guest came up under KVM: %s%s%s", e ? e->msg : "?",
                         tail && *tail ? "; QEMU: " : "", tail ? tail : "");
        }
        return ok;
}

static void *proof_main(void *arg)
{
        struct proof_job *j = arg;
        char why[512];
        bool tried = true, kvm = try_boot(j, why, sizeof(why), &tried);

        if (tried)
                save(j, kvm, why);
        log_info("qemu: KVM %s: %s", kvm ? "proven" : "not usable", why);
        if (j->done)
                j->done(kvm, why);
        (void) fs_rm_rf(j->dir);
        job_free(j);
        return NULL;
}

int qemu_kvm_proof_start(const char *data_root, const struct qemu_vm *base, unsigned timeout_ms,
                         void (*done)(bool kvm, const char *why), struct uvm_error **err)
{
        struct proof_job *j = calloc(1, sizeof(*j));
        _cleanup_free_ char *qdir = NULL;
        char id[64];
        pthread_t t;
        int r = -ENOMEM;

        if (!j)
                return uvm_error_set(err, ENOMEM, "out of memory");
        j->vm = *base;
        j->vm.kvm = true;
        j->timeout_ms = timeout_ms;
        j->done = done;
        qdir = fs_path_join(data_root, "qemu");
        if (qdir && boot_id(id, sizeof(id)) >= 0) {
                char pid[32];

                snprintf(pid, sizeof(pid), "proof-%d", (int) getpid());
                j->boot_id = strdup(id);
                j->dir = fs_path_join(qdir, pid);
                j->file = fs_path_join(qdir, "kvm-proof.json");
        }
        if (j->dir) {
                j->vm.agent_sock = fs_path_join(j->dir, "agent.sock");
                j->vm.qmp_sock = fs_path_join(j->dir, "qmp.sock");
                j->vm.console_sock = fs_path_join(j->dir, "console.sock");
                j->vm.pidfile = fs_path_join(j->dir, "qemu.pid");
        }
        if (j->boot_id && j->dir && j->file && j->vm.agent_sock && j->vm.qmp_sock &&
            j->vm.console_sock && j->vm.pidfile)
                r = fs_mkdir_p(j->dir, 0700);
        if (r >= 0)
                r = -pthread_create(&t, NULL, proof_main, j);
        if (r < 0) {
                uvm_error_set(err, -r, "start the KVM proof: %s", strerror(-r));
                job_free(j);
                return r;
        }
        pthread_detach(t);
        return 0;
}
