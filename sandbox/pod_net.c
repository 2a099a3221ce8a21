/* A pod's network during RunPodSandbox (pod_net.h). */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/macros.h"
#include "sandbox/pod_net.h"

int pod_net_begin(struct pod_net_job *j, struct net *net, const struct net_pod_config *cfg,
                  const char *pod_id, const char *userns_path, const char *pod_dir,
                  struct uvm_error **err)
{
        *j = (struct pod_net_job){.net = net, .cfg = *cfg};
        j->cfg.pod_id = pod_id;
        j->cfg.userns_path = userns_path;
        if (asprintf(&j->files_dir, "%s/files", pod_dir) < 0) {
                j->files_dir = NULL;
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        if (!net)
                return 0;
        return net_pod_netns(net, &j->cfg, &j->attach, err) < 0 ? uvm_error_wrap(err, "pod network")
                                                                : 0;
}

const char *pod_net_netns(const struct pod_net_job *j)
{
        return j->attach ? net_pod_attach_netns(j->attach) : NULL;
}

static int files(struct pod_net_job *j, struct uvm_error **err)
{
        if (mkdir(j->files_dir, 0755) < 0)
                return uvm_error_set(err, errno, "create %s: %m", j->files_dir);
        return net_pod_write_files(j->files_dir, &j->cfg, j->res.n_ips > 0 ? j->res.ips[0] : NULL,
                                   err);
}

static int steps(struct pod_net_job *j, struct uvm_error **err)
{
        int r = 0;

        if (j->attach) {
                r = net_pod_add(j->attach, &j->res, err);
                phase_mark(j->pc, "cni");
                if (r < 0)
                        return uvm_error_wrap(err, "pod network");
        }
        r = files(j, err);
        phase_mark(j->pc, "files");
        return r;
}

static void *run_thread(void *data)
{
        struct pod_net_job *j = data;

        phase_start(&j->own, "");
        j->r = steps(j, &j->err);
        return NULL;
}

int pod_net_run(struct pod_net_job *j, bool background, struct phase_clock *pc,
                struct uvm_error **err)
{
        j->pc = background ? &j->own : pc;
        j->caller_pc = pc;
        if (background && pthread_create(&j->thread, NULL, run_thread, j) == 0) {
                j->threaded = true;
                return 0;
        }
        j->pc = pc;
        return steps(j, err);
}

int pod_net_join(struct pod_net_job *j, struct uvm_error **err)
{
        if (!j->threaded)
                return 0;
        pthread_join(j->thread, NULL);
        j->threaded = false;
        for (size_t i = 0; i < j->own.n; i++)
                phase_add(j->caller_pc, j->own.v[i].name, j->own.v[i].ns);
        /* An error the caller already has stays the one reported. */
        if (j->r < 0 && err && !*err)
                *err = TAKE_PTR(j->err);
        return j->r;
}

void pod_net_job_clear(struct pod_net_job *j)
{
        net_pod_attach_free(j->attach);
        net_pod_result_clear(&j->res);
        uvm_error_free(j->err);
        free(j->files_dir);
        *j = (struct pod_net_job){0};
}
