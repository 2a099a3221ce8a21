/* The container layer against a fake driver and a hand-made image store:
 * every step of CreateContainer failing leaves nothing (no container, no
 * record, no image hold, the name free again), and the life cycle. */

#include <dirent.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "common/fs.h"
#include "image/digest.h"
#include "image/image.h"
#include "network/net.h"
#include "sandbox/container.h"
#include "sandbox/driver-internal.h"
#include "sandbox/list.h"
#include "sandbox/sandbox.h"

struct drv_pod {
        const struct drv_events *ev;
};

static int live_pods, live_ctrs;
static bool fail_ctr_create;

static int fake_create(const struct drv_pod_spec *spec, struct drv_pod **ret,
                       struct uvm_error **err)
{
        struct drv_pod *p = calloc(1, sizeof(*p));

        p->ev = spec->events;
        live_pods++;
        *ret = p;
        return 0;
}

static int fake_stop(struct drv_pod *p, uint32_t t, struct uvm_error **err)
{
        return 0;
}

static void fake_free(struct drv_pod *p)
{
        live_pods--;
        free(p);
}

static int fake_ctr_create(struct drv_pod *p, const struct drv_ctr_spec *s, struct uvm_error **err)
{
        if (fail_ctr_create)
                return uvm_error_set(err, EIO, "injected runtime failure");
        /* What the layer hands the driver: the image's layer and a spec. */
        assert_non_null(s->layers[0]);
        assert_null(s->layers[1]);
        assert_non_null(strstr(s->oci_spec_json, "\"/etc/hosts\""));
        live_ctrs++;
        return 0;
}

static int fake_ctr_start(struct drv_pod *p, const char *id, struct uvm_error **err)
{
        p->ev->ctr_output(p->ev->data, id, DRV_STDOUT, "hello\n", 6);
        return 0;
}

static int fake_ctr_signal(struct drv_pod *p, const char *id, int sig, struct uvm_error **err)
{
        p->ev->ctr_exited(p->ev->data, id, 128 + sig, 0, false);
        return 0;
}

static int fake_ctr_delete(struct drv_pod *p, const char *id, struct uvm_error **err)
{
        live_ctrs--;
        return 0;
}

static const struct drv_ops fake = {
        .name = "fakec",
        .pod_create = fake_create,
        .pod_stop = fake_stop,
        .pod_free = fake_free,
        .ctr_create = fake_ctr_create,
        .ctr_start = fake_ctr_start,
        .ctr_signal = fake_ctr_signal,
        .ctr_delete = fake_ctr_delete,
};

static char dir[] = "/tmp/ctr-test-XXXXXX";
static struct sbx *sbx;
static struct img_store *images;
static char image_id[IMG_DIGEST_LEN + 1];
static char *pod_id;

static void put(const char *rel, const char *text)
{
        char path[512];

        snprintf(path, sizeof(path), "%s/%s", dir, rel);
        assert_int_equal(fs_write_atomic(path, text, strlen(text), 0600), 0);
}

/* One image, "t:1", of one (empty) layer, written the way the store keeps it. */
static void make_image(void)
{
        static const char diff[] =
                "sha256:"
                "1111111111111111111111111111111111111111111111111111111111111111";
        char cfg[512], rel[256], idx[1024];

        snprintf(cfg, sizeof(cfg),
                 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"]},"
                 "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
                 diff);
        img_digest_buf(cfg, strlen(cfg), image_id);
        snprintf(rel, sizeof(rel), "%s/images/blobs/sha256", dir);
        assert_int_equal(fs_mkdir_p(rel, 0700), 0);
        snprintf(rel, sizeof(rel), "%s/images/layers/%s", dir, diff + 7);
        assert_int_equal(fs_mkdir_p(rel, 0700), 0);
        snprintf(rel, sizeof(rel), "images/blobs/sha256/%s", image_id + 7);
        put(rel, cfg);
        snprintf(idx, sizeof(idx),
                 "{\"images\":[{\"id\":\"%s\",\"manifest\":\"sha256:%064d\",\"size\":1,"
                 "\"tags\":[\"docker.io/library/t:1\"],\"digests\":[],"
                 "\"layers\":[{\"digest\":\"sha256:%064d\",\"chain\":\"%s\",\"size\":1}]}]}",
                 image_id, 2, 3, diff);
        put("images/images.json", idx);
}

static int setup(void **state)
{
        char root[256], logs[256];
        struct img_options io = {.root = root};
        struct sbx_options o = {.state_root = dir};
        struct pod_record r = {.name = "p",
                               .namespace_ = "ns",
                               .uid = "u",
                               .driver = "fakec",
                               .log_directory = logs,
                               .uvm = {.memory_mb = 1024, .processors = 1}};

        assert_non_null(mkdtemp(dir));
        snprintf(root, sizeof(root), "%s/images", dir);
        snprintf(logs, sizeof(logs), "%s/logs", dir);
        make_image();
        assert_int_equal(img_store_new(&io, &images, NULL), 0);
        o.images = images;
        drv_register_extra(&fake);
        assert_int_equal(sbx_new(&o, &sbx, NULL), 0);
        assert_int_equal(sbx_pod_run(sbx, &r, &(struct net_pod_config){.hostname = "h"}, true,
                                     &pod_id, NULL),
                         0);
        return 0;
}

static int teardown(void **state)
{
        assert_int_equal(sbx_pod_remove(sbx, pod_id, NULL), 0);
        free(pod_id);
        sbx_free(sbx);
        img_store_free(images);
        assert_int_equal(live_pods, 0);
        assert_int_equal(live_ctrs, 0);
        fs_rm_rf(dir);
        return 0;
}

static size_t records(void)
{
        char path[512];
        struct dirent *e;
        size_t n = 0;
        DIR *d;

        snprintf(path, sizeof(path), "%s/pods/%s/containers", dir, pod_id);
        d = opendir(path);
        if (!d)
                return 0;
        while ((e = readdir(d)))
                n += e->d_name[0] != '.';
        closedir(d);
        return n;
}

/* What a walk of the containers saw (sandbox/list.h). */
struct seen {
        int calls, fail_at;
        char names[8][16];
};

static int visit(const struct ctr_record *r, void *arg)
{
        struct seen *s = arg;

        if (s->fail_at && s->calls + 1 == s->fail_at)
                return -ENOMEM;
        if (s->calls < 8)
                snprintf(s->names[s->calls], sizeof(s->names[0]), "%s", r->name);
        s->calls++;
        return 0;
}

static size_t listed(void)
{
        struct seen s = {0};
        int n = sbx_ctr_each(sbx, NULL, visit, &s, NULL);

        assert_true(n >= 0);
        assert_int_equal(n, s.calls);
        return (size_t) n;
}

struct cfg {
        Runtime__V1__ContainerConfig c;
        Runtime__V1__ContainerMetadata meta;
        Runtime__V1__ImageSpec image;
        Runtime__V1__LinuxContainerConfig linux;
        Runtime__V1__LinuxContainerSecurityContext sc;
        Runtime__V1__SecurityProfile seccomp;
};

static void cfg_init(struct cfg *f, const char *name, const char *image)
{
        runtime__v1__container_config__init(&f->c);
        runtime__v1__container_metadata__init(&f->meta);
        runtime__v1__image_spec__init(&f->image);
        runtime__v1__linux_container_config__init(&f->linux);
        runtime__v1__linux_container_security_context__init(&f->sc);
        runtime__v1__security_profile__init(&f->seccomp);
        f->meta.name = (char *) name;
        f->image.image = (char *) image;
        f->c.metadata = &f->meta;
        f->c.image = &f->image;
        f->c.linux = &f->linux;
        f->linux.security_context = &f->sc;
        f->c.log_path = "c.log";
}

/* A failed create: the given code, and nothing of the container left. */
static void create_fails(struct cfg *f, int code)
{
        struct uvm_error *err = NULL;
        char *id = NULL;

        assert_int_equal(sbx_ctr_create(sbx, pod_id, &f->c, &id, &err), code);
        assert_non_null(err);
        assert_null(id);
        uvm_error_free(err);
        assert_int_equal(listed(), 0);
        assert_int_equal(records(), 0);
        assert_int_equal(live_ctrs, 0);
}

static void test_every_create_step_failing_leaves_nothing(void **state)
{
        struct cfg f;
        char *id = NULL;

        cfg_init(&f, "c", "nope:1"); /* the image */
        create_fails(&f, -ENOENT);
        cfg_init(&f, "c", "t:1"); /* the spec: a seccomp profile that is not there */
        f.sc.seccomp = &f.seccomp;
        f.seccomp.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__Localhost;
        f.seccomp.localhost_ref = "/nonexistent/profile.json";
        create_fails(&f, -EINVAL);
        cfg_init(&f, "c", "t:1"); /* the log file */
        f.c.log_path = "../escape.log";
        create_fails(&f, -EINVAL);
        cfg_init(&f, "c", "t:1"); /* the driver */
        fail_ctr_create = true;
        create_fails(&f, -EIO);
        fail_ctr_create = false;

        /* No failure left the image held: it can be removed (and is put
         * back: the store notices a rewritten index). */
        assert_int_equal(img_remove(images, image_id, NULL), 0);
        make_image();
        /* The name is free again. */
        cfg_init(&f, "c", "t:1");
        assert_int_equal(sbx_ctr_create(sbx, pod_id, &f.c, &id, NULL), 0);
        assert_int_equal(img_remove(images, image_id, NULL), -EBUSY);
        assert_int_equal(sbx_ctr_remove(sbx, id, NULL), 0);
        free(id);
        assert_int_equal(records(), 0);
}

static void test_lifecycle(void **state)
{
        struct ctr_record r = {0};
        struct cfg f;
        char *id = NULL, *dup = NULL, path[512], *log = NULL;

        cfg_init(&f, "web", "t:1");
        f.c.log_path = "web/0.log";
        assert_int_equal(sbx_ctr_create(sbx, pod_id, &f.c, &id, NULL), 0);
        assert_int_equal(sbx_ctr_create(sbx, pod_id, &f.c, &dup, NULL), -EEXIST);
        assert_int_equal(records(), 1);
        assert_int_equal(sbx_ctr_start(sbx, id, NULL), 0);
        assert_int_equal(sbx_ctr_start(sbx, id, NULL), -EBUSY);
        assert_int_equal(sbx_ctr_get(sbx, id, &r, NULL), 0);
        assert_int_equal(r.state, CTR_RUNNING);
        assert_string_equal(r.image_id, image_id);
        ctr_record_clear(&r);
        /* The fake exits on the first signal: SIGTERM, 143. */
        assert_int_equal(sbx_ctr_stop(sbx, id, 5, NULL), 0);
        assert_int_equal(sbx_ctr_get(sbx, id, &r, NULL), 0);
        assert_int_equal(r.state, CTR_EXITED);
        assert_int_equal(r.exit_code, 128 + SIGTERM);
        assert_string_equal(r.reason, "Error");
        ctr_record_clear(&r);
        assert_int_equal(sbx_ctr_stop(sbx, id, 5, NULL), 0); /* idempotent */
        /* What the container printed, as a CRI log record. */
        snprintf(path, sizeof(path), "%s/logs/web/0.log", dir);
        assert_int_equal(fs_read_file(path, 4096, &log, NULL), 0);
        assert_non_null(strstr(log, " stdout F hello\n"));
        free(log);
        assert_int_equal(sbx_ctr_remove(sbx, id, NULL), 0);
        assert_int_equal(sbx_ctr_remove(sbx, id, NULL), 0); /* idempotent */
        assert_int_equal(listed(), 0);
        free(id);
}

static bool keep_running(const struct ctr_record *r, const void *arg)
{
        return r->state == CTR_RUNNING;
}

/* Only the containers keep() accepts are visited, on their live records;
 * a failing visit stops the walk. */
static void test_each(void **state)
{
        const char *names[] = {"a", "b", "c"};
        char *ids[3];
        struct seen s = {0};
        struct uvm_error *err = NULL;
        struct cfg f;

        for (int i = 0; i < 3; i++) {
                cfg_init(&f, names[i], "t:1");
                assert_int_equal(sbx_ctr_create(sbx, pod_id, &f.c, &ids[i], NULL), 0);
        }
        assert_int_equal(sbx_ctr_each(sbx, keep_running, visit, &s, NULL), 0);
        assert_int_equal(s.calls, 0);
        assert_int_equal(sbx_ctr_start(sbx, ids[1], NULL), 0);
        assert_int_equal(sbx_ctr_each(sbx, keep_running, visit, &s, NULL), 1);
        assert_int_equal(s.calls, 1);
        assert_string_equal(s.names[0], "b");
        assert_int_equal(listed(), 3);

        s = (struct seen){.fail_at = 2};
        assert_int_equal(sbx_ctr_each(sbx, NULL, visit, &s, &err), -ENOMEM);
        assert_int_equal(s.calls, 1);
        assert_non_null(err);
        assert_non_null(strstr(err->msg, "listing containers"));
        uvm_error_free(err);

        for (int i = 0; i < 3; i++) {
                assert_int_equal(sbx_ctr_remove(sbx, ids[i], NULL), 0);
                free(ids[i]);
        }
        assert_int_equal(listed(), 0);
        /* teardown: live_ctrs back to 0, so the walks kept no reference */
}

/* The List generation moved since *g (which is brought up to date). */
static bool gen_moved(uint64_t *g)
{
        uint64_t now = sbx_list_gen(sbx);
        bool moved = now > *g;

        *g = now;
        return moved;
}

/* Every change a ListContainers answer shows moves the List generation
 * (the unfiltered List cache depends on it); reading does not. */
static void test_list_generation(void **state)
{
        struct ctr_record r = {0};
        uint64_t g = sbx_list_gen(sbx);
        char *id = NULL, *id2 = NULL;
        struct cfg f;

        assert_int_equal(listed(), 0);
        assert_false(gen_moved(&g));
        cfg_init(&f, "gen", "t:1");
        assert_int_equal(sbx_ctr_create(sbx, pod_id, &f.c, &id, NULL), 0);
        assert_true(gen_moved(&g));
        assert_int_equal(listed(), 1);
        assert_int_equal(sbx_ctr_get(sbx, id, &r, NULL), 0);
        ctr_record_clear(&r);
        assert_false(gen_moved(&g));
        assert_int_equal(sbx_ctr_start(sbx, id, NULL), 0);
        assert_true(gen_moved(&g));
        /* Exited by itself: the driver's exit event. */
        sbx_ctr_on_exit(sbx, id, 0, 0, false);
        assert_true(gen_moved(&g));
        assert_int_equal(sbx_ctr_remove(sbx, id, NULL), 0);
        assert_true(gen_moved(&g));
        /* Stopped by StopContainer. */
        cfg_init(&f, "gen2", "t:1");
        assert_int_equal(sbx_ctr_create(sbx, pod_id, &f.c, &id2, NULL), 0);
        assert_int_equal(sbx_ctr_start(sbx, id2, NULL), 0);
        assert_true(gen_moved(&g));
        assert_int_equal(sbx_ctr_stop(sbx, id2, 5, NULL), 0);
        assert_true(gen_moved(&g));
        /* A failed create registers and drops: the generation moves. */
        cfg_init(&f, "gen3", "missing:1");
        assert_true(sbx_ctr_create(sbx, pod_id, &f.c, &id, NULL) < 0);
        assert_true(gen_moved(&g));
        assert_int_equal(sbx_ctr_remove(sbx, id2, NULL), 0);
        assert_true(gen_moved(&g));
        assert_int_equal(listed(), 0);
        assert_false(gen_moved(&g));
        free(id);
        free(id2);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_every_create_step_failing_leaves_nothing),
                cmocka_unit_test(test_lifecycle),
                cmocka_unit_test(test_each),
                cmocka_unit_test(test_list_generation),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}
