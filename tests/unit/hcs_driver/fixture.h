#pragma once

/* What the hcs driver's tests share: the driver bound to the fakes, a
 * pod spec in a temp state dir with two endpoints (E1, E2), the events
 * seen. */

#include <stdbool.h>
#include <stdint.h>

#include "sandbox/drivers/hcs/driver.h"
#include "tests/unit/hcs_driver/fakes.h"

struct json_object;

#define E1 "11111111-1111-4111-8111-111111111111"
#define E2 "22222222-2222-4222-8222-222222222222"

extern const struct drv_ops *ops;
extern struct drv_pod_spec spec;
extern char *const two_endpoints[]; /* E1, E2 */
extern struct drv_hcs_config cfg;
extern int died;
extern char died_reason[256];
extern char exited_ctr[64];
extern int exited_code;

/* cmocka setup and teardown of every test. */
int fixture_setup(void **state);
int fixture_teardown(void **state);
/* Bind the driver to the fakes with cfg. */
void fixture_bind(void);
void fixture_write(const char *name, const char *text);
bool fixture_exists(const char *name);
void fixture_remove(const char *name);
/* The pod's record (hcs-pod.json), parsed; the caller puts it. */
struct json_object *fixture_record(void);
/* The fakes' log with the endpoint GUIDs written E1 and E2. */
const char *fixture_log(void);
void fixture_log_clear(void);
/* pod_create, which must succeed. */
struct drv_pod *fixture_create(void);

/* The crash tests: uvmd "killed" at step at of the fakes' calls
 * (fake.on_step counts one before and one after each), the pod's record
 * as it was then copied into a temp dir, the fakes' state saved
 * (fake_crash_save) for a new uvmd to reattach to. */
struct fixture_crash {
        int step, at;  /* steps seen; the one to crash at (0: none) */
        char what[64]; /* "after hcs.modify", ... */
        char *copy;    /* the state dir as it was then */
};
extern struct fixture_crash fixture_crash;
/* dir/name, allocated (asserted). */
char *fixture_path_in(const char *dir, const char *name);
/* No crash yet, a new copy dir named prefix...; and it removed. */
void fixture_crash_setup(const char *prefix);
void fixture_crash_teardown(void);
/* For fake.on_step: true at the crash (record copied, fakes saved). */
bool fixture_crash_step(const char *call, bool after);
/* fixture_crash_step as fake.on_step. */
void fixture_crash_on_step(const char *call, bool after);
/* uvmd killed at step n (0: none) of op on a new pod (the fakes reset,
 * prep, if any, run first); on_step NULL: fixture_crash_on_step. The
 * steps op took; the pod freed (its record left for the caller). */
int fixture_crash_run(int n, void (*prep)(struct drv_pod *), void (*op)(struct drv_pod *),
                      void (*on_step)(const char *, bool));
/* A new uvmd: the fakes as the crash left them, the pod reattached from
 * the record copied then (a failure fails the test). */
struct drv_pod *fixture_crash_reattach(void);
/* uvmd killed and started again with pod as it is: the fakes kept, pod
 * freed and reattached from its own record (a failure fails the test). */
struct drv_pod *fixture_restart(struct drv_pod *pod);
/* at(0, flag) counts the steps, which must be want; then at(n, flag) for
 * each. */
void fixture_crash_each(void (*at)(int n, bool flag, int *ret_steps), bool flag, int want);
