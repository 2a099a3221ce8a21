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
