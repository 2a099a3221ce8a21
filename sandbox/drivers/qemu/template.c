/* VM templates: the builder thread, the kept templates and what a clone
 * takes from them (template.h, docs/templates.md). */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/cond.h"
#include "common/fs.h"
#include "common/log.h"
#include "common/macros.h"
#include "common/sha256.h"
#include "sandbox/drivers/qemu/cmdline.h"
#include "sandbox/drivers/qemu/template-internal.h"
#include "sandbox/drivers/qemu/template.h"
#include "sandbox/drivers/qemu/tpl.h"

#define BACKOFF_FIRST_MS 30000      /* after a failed build; doubled each time */
#define BACKOFF_MAX_MS (30 * 60000) /* at most half an hour between tries */
#define COPY_CHUNK (1 << 20)
#define MIN_OF(a, b) ((a) < (b) ? (a) : (b))

struct qtpl {
        int refs; /* atomic */
        int mem_fd;
        char *state;
        char key[QTPL_KEY_LEN + 1], mac[18];
        char made_from[3][600]; /* the stat identities of kernel, initrd, QEMU */
        uint32_t memory_mb, vcpus;
        bool kvm;
};

/* The builder's state. lock guards all of it; the thread alone builds. */
static struct {
        pthread_mutex_t lock;
        pthread_cond_t cond;
        bool started, wake;
        struct qtpl_node node; /* strings owned; the shape is the builder thread's */
        struct {
                uint32_t memory_mb, vcpus;
                bool kvm;
        } want;             /* the shape to make next */
        char *root;         /* <data_root>/templates */
        struct qtpl *ready; /* a reference of ours, or NULL */
} b = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* "<path>:<size>:<mtime>:<ino>": changes when the file is replaced or written. */
static int file_id(const char *path, char *ret, size_t len)
{
        struct stat st;

        if (stat(path, &st) < 0)
                return -errno;
        snprintf(ret, len, "%s:%lld:%lld.%09ld:%llu", path, (long long) st.st_size,
                 (long long) st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (unsigned long long) st.st_ino);
        return 0;
}

static int hash_file(struct sha256 *h, const char *path)
{
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ char *buf = malloc(COPY_CHUNK);
        ssize_t n;

        if (fd < 0 || !buf)
                return fd < 0 ? -errno : -ENOMEM;
        while ((n = read(fd, buf, COPY_CHUNK)) > 0)
                sha256_update(h, buf, (size_t) n);
        return n < 0 ? -errno : 0;
}

/* The guest image's content hash (kernel, then initrd). */
static int image_hash(const char *kernel, const char *initrd, char ret[65])
{
        struct sha256 *h = sha256_new();
        unsigned char d[SHA256_LEN];
        int r;

        if (!h)
                return -ENOMEM;
        r = hash_file(h, kernel);
        if (r >= 0)
                sha256_update(h, "\n", 1);
        if (r >= 0)
                r = hash_file(h, initrd);
        sha256_final(h, d);
        sha256_free(h);
        for (size_t i = 0; r >= 0 && i < SHA256_LEN; i++)
                snprintf(ret + 2 * i, 3, "%02x", d[i]);
        return r;
}

static struct qtpl *tpl_free(struct qtpl *t)
{
        if (t) {
                if (t->mem_fd >= 0)
                        close(t->mem_fd);
                free(t->state);
                free(t);
        }
        return NULL;
}

struct qtpl *qtpl_put(struct qtpl *t)
{
        if (t && __atomic_sub_fetch(&t->refs, 1, __ATOMIC_ACQ_REL) == 0)
                tpl_free(t);
        return NULL;
}

int qtpl_mem_fd(const struct qtpl *t)
{
        return t->mem_fd;
}

const char *qtpl_mac(const struct qtpl *t)
{
        return t->mac;
}

int qtpl_open_state(const struct qtpl *t, struct uvm_error **err)
{
        int fd = open(t->state, O_RDONLY | O_CLOEXEC);

        return fd < 0 ? uvm_error_set(err, errno, "open %s: %m", t->state) : fd;
}

/* With b.lock held: drop the ready template, wake the builder. */
static void drop_locked(void)
{
        b.ready = qtpl_put(b.ready);
        b.wake = true;
        pthread_cond_signal(&b.cond);
}

void qtpl_failed(struct qtpl *t, const char *why)
{
        log_warn("qemu: template %s: %s; dropped, a new one will be made", t->key, why);
        pthread_mutex_lock(&b.lock);
        if (b.ready == t)
                drop_locked();
        pthread_mutex_unlock(&b.lock);
}

/* Whether the guest image and QEMU are still what t was made from. */
static bool still_current(const struct qtpl *t)
{
        const char *paths[3] = {b.node.kernel, b.node.initrd, b.node.qemu};
        char id[600];

        for (size_t i = 0; i < 3; i++)
                if (file_id(paths[i], id, sizeof(id)) < 0 || !STR_EQ(id, t->made_from[i]))
                        return false;
        return true;
}

struct qtpl *qtpl_get(uint32_t memory_mb, uint32_t vcpus, bool kvm)
{
        struct qtpl *t = NULL;

        pthread_mutex_lock(&b.lock);
        if (!b.started)
                goto out;
        if (kvm != b.want.kvm) {
                /* KVM was proven since the start: keep a template of the new shape. */
                b.want.kvm = kvm;
                b.want.vcpus = vcpus;
                b.want.memory_mb = memory_mb;
                drop_locked();
        }
        if (b.ready && !still_current(b.ready)) {
                log_info("qemu: the guest image or QEMU changed: template %s dropped",
                         b.ready->key);
                drop_locked();
        }
        t = b.ready;
        if (t && (t->memory_mb != memory_mb || t->vcpus != vcpus || t->kvm != kvm))
                t = NULL;
        if (t)
                __atomic_add_fetch(&t->refs, 1, __ATOMIC_RELAXED);
out:
        pthread_mutex_unlock(&b.lock);
        return t;
}

/* --- keeping one --- */

/* The file's data (holes skipped: most of a guest's RAM was never
 * touched) into a sealed memfd of the same size: clones map it privately,
 * and the seals refuse every write to it, from any process. */
static int mem_to_memfd(const char *path, off_t size, struct uvm_error **err)
{
        _cleanup_close_ int in = open(path, O_RDONLY | O_CLOEXEC), fd = -1;
        _cleanup_free_ char *buf = malloc(COPY_CHUNK);
        off_t at = 0, end;

        if (in < 0 || !buf)
                return uvm_error_set(err, in < 0 ? errno : ENOMEM, "open %s: %m", path);
        fd = memfd_create("uvmd-template", MFD_CLOEXEC | MFD_ALLOW_SEALING);
        if (fd < 0 || ftruncate(fd, size) < 0)
                return uvm_error_set(err, errno, "memfd for %s: %m", path);
        while (at < size && (at = lseek(in, at, SEEK_DATA)) >= 0) {
                end = lseek(in, at, SEEK_HOLE);
                if (end < 0)
                        return uvm_error_set(err, errno, "read %s: %m", path);
                while (at < end) {
                        ssize_t n = pread(in, buf, MIN_OF((off_t) COPY_CHUNK, end - at), at);

                        if (n <= 0 || pwrite(fd, buf, (size_t) n, at) != n)
                                return uvm_error_set(err, n < 0 ? errno : EIO, "copy %s", path);
                        at += n;
                }
        }
        if (at < 0 && errno != ENXIO)
                return uvm_error_set(err, errno, "read %s: %m", path);
        if (fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
                return uvm_error_set(err, errno, "seal the template's memfd: %m");
        return TAKE_FD(fd);
}

/* The complete template of key, checked, with its RAM in a memfd. */
static int load(const char *key, char ids[3][600], struct qtpl **ret, struct uvm_error **err)
{
        _cleanup_free_ char *dir = fs_path_join(b.root, key), *meta = NULL, *text = NULL,
                            *mem = NULL;
        struct qtpl *t = NULL;
        struct qtpl_meta m;
        struct stat st;
        int r;

        meta = dir ? fs_path_join(dir, "meta.json") : NULL;
        mem = dir ? fs_path_join(dir, "mem") : NULL;
        t = calloc(1, sizeof(*t));
        if (!meta || !mem || !t || !(t->state = fs_path_join(dir, "state"))) {
                tpl_free(t);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        t->mem_fd = -1;
        r = fs_read_file(meta, 64 << 10, &text, NULL);
        if (r < 0)
                r = uvm_error_set(err, -r, "%s: %s", meta, strerror(-r));
        if (r >= 0)
                r = qtpl_meta_parse(text, key, &m, err);
        if (r >= 0 && (m.memory_mb != b.node.memory_mb || m.vcpus != b.node.vcpus))
                r = uvm_error_set(err, EINVAL, "%s: another shape", meta);
        if (r >= 0 && (stat(mem, &st) < 0 || st.st_size != (off_t) m.memory_mb << 20))
                r = uvm_error_set(err, EINVAL, "%s: missing or not %u MiB", mem, m.memory_mb);
        if (r >= 0 && (stat(t->state, &st) < 0 || (uint64_t) st.st_size != m.state_bytes))
                r = uvm_error_set(err, EINVAL, "%s: missing or not %llu bytes", t->state,
                                  (unsigned long long) m.state_bytes);
        if (r >= 0)
                r = t->mem_fd = mem_to_memfd(mem, (off_t) m.memory_mb << 20, err);
        if (r < 0) {
                tpl_free(t);
                return r;
        }
        t->refs = 1;
        memcpy(t->key, key, sizeof(t->key));
        memcpy(t->mac, m.mac, sizeof(t->mac));
        memcpy(t->made_from, ids, sizeof(t->made_from));
        t->memory_mb = m.memory_mb;
        t->vcpus = m.vcpus;
        t->kvm = b.node.kvm;
        *ret = t;
        return 0;
}

/* Templates of other keys (another image, QEMU or shape) go. */
static void remove_stale(const char *key)
{
        DIR *d = opendir(b.root);
        struct dirent *e;

        while (d && (e = readdir(d))) {
                _cleanup_free_ char *path = NULL;

                if (e->d_name[0] == '.' || STR_EQ(e->d_name, key) ||
                    !(path = fs_path_join(b.root, e->d_name)))
                        continue;
                log_info("qemu: stale template %s removed", e->d_name);
                (void) fs_rm_rf(path);
        }
        if (d)
                closedir(d);
}

/* The key of the shape wanted now, and the files' identities it rests on.
 * The image is hashed again only when a file's identity changed. */
static int current_key(char key[QTPL_KEY_LEN + 1], char ids[3][600])
{
        static char hashed_ids[2][600], image[65];
        struct qtpl_shape s = {.memory_mb = b.node.memory_mb,
                               .vcpus = b.node.vcpus,
                               .kvm = b.node.kvm,
                               .append = b.node.append};
        int r = file_id(b.node.kernel, ids[0], 600);

        if (r >= 0)
                r = file_id(b.node.initrd, ids[1], 600);
        if (r >= 0)
                r = file_id(b.node.qemu, ids[2], 600);
        if (r < 0)
                return r;
        if (!STR_EQ(ids[0], hashed_ids[0]) || !STR_EQ(ids[1], hashed_ids[1])) {
                r = image_hash(b.node.kernel, b.node.initrd, image);
                if (r < 0)
                        return r;
                memcpy(hashed_ids, ids, sizeof(hashed_ids));
        }
        memcpy(s.image, image, sizeof(s.image));
        snprintf(s.qemu, sizeof(s.qemu), "%s", ids[2]);
        return qtpl_key(&s, key);
}

/* One round: the template of the current key ready, loaded or made. */
static int round_once(struct uvm_error **err)
{
        char key[QTPL_KEY_LEN + 1], ids[3][600];
        _cleanup_error_ struct uvm_error *e = NULL;
        struct qtpl *t = NULL;
        int r = current_key(key, ids);

        if (r < 0)
                return uvm_error_set(err, -r, "the template's key: %s", strerror(-r));
        if (b.ready && STR_EQ(b.ready->key, key))
                return 0;
        remove_stale(key);
        if (load(key, ids, &t, &e) < 0) {
                log_debug("qemu: template %s: %s; making it", key, e->msg);
                r = qtpl_build(&b.node, b.root, key, err);
                if (r >= 0)
                        r = load(key, ids, &t, err);
        }
        if (r < 0)
                return r;
        log_info("qemu: template %s ready (%u MiB, %u vCPU, %s)", key, t->memory_mb, t->vcpus,
                 t->kvm ? "KVM" : "TCG");
        pthread_mutex_lock(&b.lock);
        qtpl_put(b.ready);
        b.ready = t;
        pthread_mutex_unlock(&b.lock);
        return 0;
}

static void *builder(void *arg)
{
        unsigned failures = 0;
        uint64_t deadline = 0;

        (void) arg;
        for (;;) {
                _cleanup_error_ struct uvm_error *e = NULL;
                unsigned backoff;

                pthread_mutex_lock(&b.lock);
                while (!b.wake && (b.ready || deadline)) {
                        if (!deadline)
                                pthread_cond_wait(&b.cond, &b.lock);
                        else if (cond_wait_until(&b.cond, &b.lock, deadline) == -ETIMEDOUT)
                                break;
                }
                b.wake = false;
                deadline = 0;
                /* The shape may change under the lock (qtpl_get); the
                 * builder works on its own copy. */
                b.node.memory_mb = b.want.memory_mb;
                b.node.vcpus = b.want.vcpus;
                b.node.kvm = b.want.kvm;
                pthread_mutex_unlock(&b.lock);
                if (round_once(&e) >= 0) {
                        failures = 0;
                        continue;
                }
                backoff = BACKOFF_FIRST_MS << MIN_OF(failures, 10u);
                backoff = MIN_OF(backoff, (unsigned) BACKOFF_MAX_MS);
                failures++;
                log_warn("qemu: no VM template (%s); pods cold-boot, next try in %u s", e->msg,
                         backoff / 1000);
                deadline = cond_deadline((int) backoff);
        }
        return NULL;
}

int qtpl_start(const struct qtpl_node *node, struct uvm_error **err)
{
        pthread_t t;
        int r = 0;

        pthread_mutex_lock(&b.lock);
        if (b.started)
                goto out;
        cond_init(&b.cond);
        b.node = *node;
        b.node.data_root = NULL;
        b.want.memory_mb = node->memory_mb;
        b.want.vcpus = node->vcpus;
        b.want.kvm = node->kvm;
        b.node.qemu = strdup(node->qemu);
        b.node.kernel = strdup(node->kernel);
        b.node.initrd = strdup(node->initrd);
        b.node.append = node->append ? strdup(node->append) : NULL;
        b.root = fs_path_join(node->data_root, "templates");
        if (!b.node.qemu || !b.node.kernel || !b.node.initrd || !b.root ||
            (node->append && !b.node.append))
                r = -ENOMEM;
        if (r >= 0)
                r = fs_mkdir_p(b.root, 0700);
        if (r >= 0)
                r = -pthread_create(&t, NULL, builder, NULL);
        if (r < 0) {
                r = uvm_error_set(err, -r, "start the VM template builder: %s", strerror(-r));
                goto out;
        }
        pthread_detach(t);
        b.started = true;
out:
        pthread_mutex_unlock(&b.lock);
        return r;
}
