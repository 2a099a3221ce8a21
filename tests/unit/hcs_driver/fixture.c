/* The hcs driver tests' fixture (fixture.h). */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/error.h"
#include "common/platform.h"
#include "tests/unit/hcs_driver/fixture.h"

const struct drv_ops *ops;
static char *dir;
char *const two_endpoints[] = {E1, E2, NULL};
struct drv_pod_spec spec;
struct drv_hcs_config cfg;
int died;
char died_reason[256];
char exited_ctr[64];
int exited_code;

static void on_pod_died(void *data, const char *reason)
{
        died++;
        snprintf(died_reason, sizeof(died_reason), "%s", reason);
}

static void on_ctr_exited(void *data, const char *ctr_id, int exit_code, int64_t finished_ns,
                          bool oom_killed)
{
        snprintf(exited_ctr, sizeof(exited_ctr), "%s", ctr_id);
        exited_code = exit_code;
}

static const struct drv_events events = {
        .pod_died = on_pod_died,
        .ctr_exited = on_ctr_exited,
};

void fixture_write(const char *name, const char *text)
{
        char path[512];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(plat_write_file_atomic(path, text, strlen(text), 0600), 0);
}

bool fixture_exists(const char *name)
{
        char path[512];
        FILE *f;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        f = fopen(path, "r");
        if (f)
                fclose(f);
        return f != NULL;
}

struct json_object *fixture_record(void)
{
        char path[512], *text = NULL;
        json_object *o;

        snprintf(path, sizeof(path), "%s/hcs-pod.json", spec.state_dir);
        assert_int_equal(plat_read_file(path, 1 << 16, &text, NULL), 0);
        o = json_tokener_parse(text);
        free(text);
        assert_non_null(o);
        return o;
}

void fixture_remove(const char *name)
{
        char path[512];

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        assert_int_equal(plat_rm_rf(path), 0);
}

void fixture_bind(void)
{
        assert_int_equal(drv_hcs_new(&fake_hcs, &fake_hcn, &fake_guest, &cfg, &ops, NULL), 0);
        assert_string_equal(ops->name, "hcs");
}

int fixture_setup(void **state)
{
        fake_reset();
        died = 0;
        died_reason[0] = exited_ctr[0] = '\0';
        assert_int_equal(plat_mkdtemp("hcs-driver-", &dir), 0);
        drv_hcs_config_init_defaults(&cfg);
        cfg.kernel_path = "C:\\ProgramData\\uvmd\\vmlinux";
        cfg.initrd_path = "C:\\ProgramData\\uvmd\\initrd.img";
        cfg.host_cpus = 4;
        fixture_bind();
        spec = (struct drv_pod_spec){
                .id = "pod1",
                .state_dir = dir,
                .uvm = {.memory_mb = 1024, .processors = 2, .allow_overcommit = true},
                .events = &events,
                .hcn_endpoints = two_endpoints,
        };
        return 0;
}

int fixture_teardown(void **state)
{
        drv_hcs_unbind();
        plat_rm_rf(dir);
        free(dir);
        dir = NULL;
        return 0;
}

const char *fixture_log(void)
{
        static char buf[FAKE_LOG_MAX * FAKE_LINE_MAX];
        const char *s = fake_log_text();
        size_t n = 0;

        while (*s && n + 1 < sizeof(buf)) {
                if (strncmp(s, E1, strlen(E1)) == 0 || strncmp(s, E2, strlen(E2)) == 0) {
                        buf[n++] = 'E';
                        buf[n++] = s[0];
                        s += strlen(E1);
                } else {
                        buf[n++] = *s++;
                }
        }
        buf[n] = '\0';
        return buf;
}

void fixture_log_clear(void)
{
        fake.n_log = 0;
}

struct drv_pod *fixture_create(void)
{
        struct drv_pod *pod = NULL;
        struct uvm_error *err = NULL;
        int r = ops->pod_create(&spec, &pod, &err);

        if (r < 0)
                fail_msg("pod_create: %s", err->msg);
        assert_non_null(pod);
        return pod;
}

struct fixture_crash fixture_crash;

char *fixture_path_in(const char *dir, const char *name)
{
        char *p = malloc(strlen(dir) + strlen(name) + 2);

        assert_non_null(p);
        sprintf(p, "%s/%s", dir, name);
        return p;
}

void fixture_crash_setup(const char *prefix)
{
        fixture_crash.step = fixture_crash.at = 0;
        fixture_crash.what[0] = '\0';
        assert_int_equal(plat_mkdtemp(prefix, &fixture_crash.copy), 0);
}

void fixture_crash_teardown(void)
{
        plat_rm_rf(fixture_crash.copy);
        free(fixture_crash.copy);
        fixture_crash.copy = NULL;
}

bool fixture_crash_step(const char *call, bool after)
{
        char *from, *to, *text = NULL;
        size_t len = 0;

        if (++fixture_crash.step != fixture_crash.at)
                return false;
        snprintf(fixture_crash.what, sizeof(fixture_crash.what), "%s %s",
                 after ? "after" : "before", call);
        from = fixture_path_in(spec.state_dir, "hcs-pod.json");
        to = fixture_path_in(fixture_crash.copy, "hcs-pod.json");
        assert_int_equal(plat_read_file(from, 1 << 20, &text, &len), 0);
        assert_int_equal(plat_write_file_atomic(to, text, len, 0600), 0);
        free(text);
        free(from);
        free(to);
        fake_crash_save();
        return true;
}

void fixture_crash_on_step(const char *call, bool after)
{
        (void) fixture_crash_step(call, after);
}

int fixture_crash_run(int n, void (*prep)(struct drv_pod *), void (*op)(struct drv_pod *),
                      void (*on_step)(const char *, bool))
{
        struct drv_pod *pod;

        fake_reset();
        pod = fixture_create();
        if (prep)
                prep(pod);
        fixture_crash.step = 0;
        fixture_crash.at = n;
        fake.on_step = on_step ? on_step : fixture_crash_on_step;
        op(pod);
        fake.on_step = NULL;
        ops->pod_free(pod);
        return fixture_crash.step;
}

struct drv_pod *fixture_crash_reattach(void)
{
        struct drv_pod_spec again = spec;
        struct uvm_error *err = NULL;
        struct drv_pod *pod = NULL;

        fake_crash_restore();
        fixture_bind();
        again.state_dir = fixture_crash.copy;
        if (ops->pod_reattach(&again, &pod, &err) < 0)
                fail_msg("crash %s: reattach: %s", fixture_crash.what, err->msg);
        return pod;
}

struct drv_pod *fixture_restart(struct drv_pod *pod)
{
        struct uvm_error *err = NULL;

        fake_crash_save();
        ops->pod_free(pod);
        fake_crash_restore();
        fixture_bind();
        pod = NULL;
        if (ops->pod_reattach(&spec, &pod, &err) < 0)
                fail_msg("reattach: %s", err->msg);
        return pod;
}

void fixture_crash_each(void (*at)(int n, bool flag, int *ret_steps), bool flag, int want)
{
        int steps, s;

        at(0, flag, &steps);
        assert_int_equal(steps, want);
        for (int n = 1; n <= steps; n++)
                at(n, flag, &s);
}
