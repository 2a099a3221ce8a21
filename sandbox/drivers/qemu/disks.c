/* Layer disks of a VM pod: QMP hot-plug, the guest mount, the records
 * (disks.h). */

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "common/fs.h"
#include "common/json.h"
#include "common/log.h"
#include "common/macros.h"
#include "sandbox/drivers/qemu/disks.h"
#include "sandbox/drivers/qemu/qmp.h"

#define QMP_TIMEOUT_MS 10000
#define GUEST_ROOT "/run/layers/"

struct qdisk {
        char *path; /* the image on the host */
        unsigned lun;
};

struct qdisks {
        char *dir, *qmp_sock;
        pthread_mutex_t lock; /* guards what follows, and the QMP connection */
        struct qdisk e[QDISKS_MAX];
        size_t n;
        unsigned next_lun;
};

const char *qdisks_guest_path(unsigned lun, char *buf, size_t len)
{
        snprintf(buf, len, GUEST_ROOT "%u", lun);
        return buf;
}

struct qdisks *qdisks_free(struct qdisks *d)
{
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n; i++)
                free(d->e[i].path);
        pthread_mutex_destroy(&d->lock);
        free(d->dir);
        free(d->qmp_sock);
        free(d);
        return NULL;
}

static int load(struct qdisks *d, struct uvm_error **err)
{
        DIR *dir = opendir(d->dir);
        struct dirent *e;

        if (!dir)
                return uvm_error_set(err, errno, "open %s: %m", d->dir);
        while ((e = readdir(dir)) && d->n < QDISKS_MAX) {
                _cleanup_free_ char *p = NULL, *text = NULL;
                char *end;
                unsigned long lun = strtoul(e->d_name, &end, 10);

                if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end || lun >= QDISKS_MAX ||
                    !(p = fs_path_join(d->dir, e->d_name)) ||
                    fs_read_file(p, 4096, &text, NULL) < 0 || text[0] != '/')
                        continue;
                d->e[d->n++] = (struct qdisk){TAKE_PTR(text), (unsigned) lun};
                if (lun >= d->next_lun)
                        d->next_lun = (unsigned) lun + 1;
        }
        closedir(dir);
        return 0;
}

int qdisks_open(const char *state_dir, const char *qmp_sock, struct qdisks **ret,
                struct uvm_error **err)
{
        struct qdisks *d = calloc(1, sizeof(*d));
        int r;

        if (!d)
                return uvm_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_init(&d->lock, NULL);
        d->dir = fs_path_join(state_dir, "disks");
        d->qmp_sock = strdup(qmp_sock);
        if (!d->dir || !d->qmp_sock)
                r = uvm_error_set(err, ENOMEM, "out of memory");
        else if ((r = fs_mkdir_p(d->dir, 0700)) < 0)
                r = uvm_error_set(err, -r, "create %s: %s", d->dir, strerror(-r));
        else
                r = load(d, err);
        if (r < 0) {
                qdisks_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

static int hotplug(struct qdisks *d, const char *path, unsigned lun, struct uvm_error **err)
{
        _cleanup_qmp_ struct qmp *q = NULL;
        _cleanup_json_ json_object *blk = json_object_new_object();
        _cleanup_json_ json_object *dev = json_object_new_object();
        _cleanup_json_ json_object *del = json_object_new_object();
        json_object *file = json_object_new_object();
        char node[32], id[32];
        int r;

        snprintf(node, sizeof(node), "layer%u", lun);
        snprintf(id, sizeof(id), "disk%u", lun);
        json_object_object_add(file, "driver", json_object_new_string("file"));
        json_object_object_add(file, "filename", json_object_new_string(path));
        json_object_object_add(blk, "driver", json_object_new_string("raw"));
        json_object_object_add(blk, "node-name", json_object_new_string(node));
        json_object_object_add(blk, "read-only", json_object_new_boolean(true));
        json_object_object_add(blk, "file", file);
        json_object_object_add(dev, "driver", json_object_new_string("scsi-hd"));
        json_object_object_add(dev, "id", json_object_new_string(id));
        json_object_object_add(dev, "bus", json_object_new_string("scsi0.0"));
        json_object_object_add(dev, "drive", json_object_new_string(node));
        json_object_object_add(dev, "scsi-id", json_object_new_int(0));
        json_object_object_add(dev, "lun", json_object_new_int((int) lun));
        json_object_object_add(del, "node-name", json_object_new_string(node));

        r = qmp_connect(d->qmp_sock, QMP_TIMEOUT_MS, &q, err);
        if (r >= 0)
                r = qmp_execute(q, "blockdev-add", blk, QMP_TIMEOUT_MS, NULL, err);
        if (r < 0)
                return r;
        r = qmp_execute(q, "device_add", dev, QMP_TIMEOUT_MS, NULL, err);
        if (r < 0)
                (void) qmp_execute(q, "blockdev-del", del, QMP_TIMEOUT_MS, NULL, NULL);
        return r;
}

static int guest_mount(struct agent_client *agent, unsigned lun, struct uvm_error **err)
{
        _cleanup_json_ json_object *s = json_object_new_object();
        char path[32];

        json_object_object_add(s, "Lun", json_object_new_int((int) lun));
        json_object_object_add(s, "Path",
                               json_object_new_string(qdisks_guest_path(lun, path, sizeof(path))));
        return agent_client_modify(agent, "Disk", s, NULL, err);
}

static struct qdisk *find(struct qdisks *d, const char *path)
{
        for (size_t i = 0; i < d->n; i++)
                if (STR_EQ(d->e[i].path, path))
                        return &d->e[i];
        return NULL;
}

/* The disk of one layer, attached (and mounted) unless it was. */
static int attach_one(struct qdisks *d, struct agent_client *agent, const char *path,
                      unsigned *ret_lun, struct uvm_error **err)
{
        _cleanup_free_ char *rec = NULL, *copy = NULL;
        struct qdisk *k = find(d, path);
        char name[16];
        int r;

        if (!k) {
                if (d->n >= QDISKS_MAX || d->next_lun >= QDISKS_MAX)
                        return uvm_error_set(err, ENOSPC,
                                             "the VM has %d layer disks already: no more",
                                             QDISKS_MAX);
                snprintf(name, sizeof(name), "%u", d->next_lun);
                rec = fs_path_join(d->dir, name);
                copy = strdup(path);
                if (!rec || !copy)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                r = hotplug(d, path, d->next_lun, err);
                if (r < 0)
                        return uvm_error_wrap(err, "hot-plug %s", path);
                r = fs_write_atomic(rec, path, strlen(path), 0600);
                if (r < 0)
                        log_warn("write %s: %s (a restarted uvmd will not know disk %u)", rec,
                                 strerror(-r), d->next_lun);
                k = &d->e[d->n++];
                *k = (struct qdisk){TAKE_PTR(copy), d->next_lun++};
        }
        *ret_lun = k->lun;
        return guest_mount(agent, k->lun, err);
}

int qdisks_attach(struct qdisks *d, struct agent_client *agent, qdisks_image_fn image_of,
                  void *data, char *const *layers, char ***ret, struct uvm_error **err)
{
        size_t n = 0;
        char **v;
        int r = 0;

        while (layers && layers[n])
                n++;
        if (n == 0)
                return uvm_error_set(err, EINVAL, "a container needs at least one layer");
        v = calloc(n + 1, sizeof(char *));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        pthread_mutex_lock(&d->lock);
        for (size_t i = 0; r >= 0 && i < n; i++) {
                _cleanup_free_ char *img = NULL;
                char buf[32];
                unsigned lun = 0;

                r = image_of(data, layers[i], &img, err);
                if (r >= 0)
                        r = attach_one(d, agent, img, &lun, err);
                if (r >= 0 && !(v[i] = strdup(qdisks_guest_path(lun, buf, sizeof(buf)))))
                        r = uvm_error_set(err, ENOMEM, "out of memory");
        }
        pthread_mutex_unlock(&d->lock);
        if (r < 0) {
                strv_free(v);
                return r;
        }
        *ret = v;
        return 0;
}
