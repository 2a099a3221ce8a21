/* uvmd's metric families and the events that update them (metrics_uvmd.h;
 * docs/metrics.md says what each one means). */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/macros.h"
#include "service/metrics_uvmd.h"

static const double rpc_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                     0.5,    1,     2.5,    5,     10,   30,    60,   120};
static const double phase_buckets[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                       1,     2.5,  5,     10,   30,  60,   120};
/* Sandbox call phases: a record write is well under a millisecond. */
static const double step_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                      5,      10,      30,     60,    120};
static const double pull_buckets[] = {0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600};

static struct {
        struct metrics_registry *r;
        struct metrics_family *requests, *errors, *rpc_duration;
        struct metrics_family *pod_start, *phase;
        struct metrics_family *pulls, *pull_failures, *pull_duration;
        struct metrics_uvmd_families scraped;
} m;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void declare_grpc(struct metrics_registry *r)
{
        static const char *const method[] = {"method"}, *const method_code[] = {"method", "code"};

        m.requests = metrics_counter(r, "uvmd_grpc_requests_total",
                                     "gRPC calls finished, by method (full gRPC path).", method, 1);
        m.errors = metrics_counter(r, "uvmd_grpc_errors_total",
                                   "gRPC calls finished with a status other than OK, by method "
                                   "and gRPC status code name.",
                                   method_code, 2);
        m.rpc_duration = metrics_histogram(
                r, "uvmd_grpc_request_duration_seconds",
                "Time from a call's arrival to its final status being sent, by method.", method, 1,
                rpc_buckets, ARRAY_SIZE(rpc_buckets));
}

static void declare_pods(struct metrics_registry *r)
{
        static const char *const state_driver[] = {"state", "driver"}, *const phase[] = {"phase"},
                                 *const driver[] = {"driver"},
                                 *const driver_result[] = {"driver", "result"},
                                 *const phases[] = {"network", "driver", "container"},
                                 *const op_phase[] = {"op", "phase"};

        m.scraped.pods = metrics_gauge(r, "uvmd_pods", "Pod sandboxes, by state and driver.",
                                       state_driver, 2);
        m.scraped.containers =
                metrics_gauge(r, "uvmd_containers", "Containers, by state and their pod's driver.",
                              state_driver, 2);
        m.pod_start = metrics_histogram(
                r, "uvmd_pod_start_duration_seconds",
                "Pod start time by phase: network (netns and CNI ADD), driver (the driver's "
                "sandbox creation: VM boot and agent for qemu), container (CreateContainer plus "
                "StartContainer, per container).",
                phase, 1, phase_buckets, ARRAY_SIZE(phase_buckets));
        for (size_t i = 0; i < ARRAY_SIZE(phases); i++)
                metrics_series(m.pod_start, &phases[i]);
        m.phase = metrics_histogram(
                r, "uvmd_phase_duration_seconds",
                "Time in each phase of a successful sandbox call (op: run_pod, create_container, "
                "start_container, stop_pod, remove_pod; phase \"total\" is the whole call). "
                "Phases that run alongside each other overlap.",
                op_phase, 2, step_buckets, ARRAY_SIZE(step_buckets));
        m.scraped.crashes = metrics_counter(
                r, "uvmd_sandbox_crashes_total",
                "Pod sandboxes (VM or agent) that died while their pod was ready, by driver.",
                driver, 1);
        m.scraped.reattaches = metrics_counter(
                r, "uvmd_sandbox_reattaches_total",
                "Pod sandboxes found at uvmd start-up, by driver and result: ok (reattached, "
                "the sandbox outlived the restart) or lost (it was gone).",
                driver_result, 2);
}

static void declare_images(struct metrics_registry *r)
{
        m.pulls = metrics_counter(r, "uvmd_image_pulls_total", "PullImage calls handled.", NULL, 0);
        m.pull_failures = metrics_counter(r, "uvmd_image_pull_failures_total",
                                          "PullImage calls that failed.", NULL, 0);
        m.scraped.pull_bytes =
                metrics_counter(r, "uvmd_image_pull_bytes_total",
                                "Bytes downloaded from registries (manifests and blobs).", NULL, 0);
        m.pull_duration = metrics_histogram(r, "uvmd_image_pull_duration_seconds",
                                            "Time a PullImage call took, failed ones included.",
                                            NULL, 0, pull_buckets, ARRAY_SIZE(pull_buckets));
        metrics_series(m.pulls, NULL);
        metrics_series(m.pull_failures, NULL);
        metrics_series(m.scraped.pull_bytes, NULL);
        metrics_series(m.pull_duration, NULL);
}

static void declare_process(struct metrics_registry *r)
{
        m.scraped.rss = metrics_gauge(r, "uvmd_process_resident_memory_bytes",
                                      "uvmd's resident memory.", NULL, 0);
        m.scraped.open_fds =
                metrics_gauge(r, "uvmd_process_open_fds", "uvmd's open file descriptors.", NULL, 0);
        m.scraped.threads = metrics_gauge(r, "uvmd_process_threads", "uvmd's threads.", NULL, 0);
        metrics_series(m.scraped.rss, NULL);
        metrics_series(m.scraped.open_fds, NULL);
        metrics_series(m.scraped.threads, NULL);
}

static void init(void)
{
        m.r = metrics_registry_new();
        if (!m.r)
                return;
        declare_grpc(m.r);
        declare_pods(m.r);
        declare_images(m.r);
        declare_process(m.r);
}

struct metrics_registry *metrics_uvmd(void)
{
        pthread_once(&once, init);
        return m.r;
}

const struct metrics_uvmd_families *metrics_uvmd_families(void)
{
        pthread_once(&once, init);
        return &m.scraped;
}

void metrics_rpc_done(const char *path, const char *code, uint64_t duration_ns)
{
        const char *method = path ? path : "unknown";

        pthread_once(&once, init);
        metrics_add(metrics_series(m.requests, &method), 1);
        if (code)
                metrics_add(metrics_series(m.errors, (const char *[]){method, code}), 1);
        metrics_observe(metrics_series(m.rpc_duration, &method), metrics_seconds(duration_ns));
}

void metrics_pod_phase(const char *phase, uint64_t duration_ns)
{
        pthread_once(&once, init);
        metrics_observe(metrics_series(m.pod_start, &phase), metrics_seconds(duration_ns));
}

void metrics_phase(const char *op, const char *phase, uint64_t duration_ns)
{
        pthread_once(&once, init);
        metrics_observe(metrics_series(m.phase, (const char *[]){op, phase}),
                        metrics_seconds(duration_ns));
}

/* CreateContainer durations waiting for their StartContainer: a small
 * ring; a container never started is overwritten in time. */
#define PENDING 256
static struct {
        pthread_mutex_t lock;
        struct {
                char id[65];
                uint64_t ns;
        } v[PENDING];
        size_t next;
} pending = {.lock = PTHREAD_MUTEX_INITIALIZER};

void metrics_ctr_created(const char *ctr_id, uint64_t duration_ns)
{
        if (!ctr_id || strlen(ctr_id) >= sizeof(pending.v[0].id))
                return;
        pthread_mutex_lock(&pending.lock);
        strcpy(pending.v[pending.next].id, ctr_id);
        pending.v[pending.next].ns = duration_ns;
        pending.next = (pending.next + 1) % PENDING;
        pthread_mutex_unlock(&pending.lock);
}

uint64_t metrics_ctr_started(const char *ctr_id, uint64_t duration_ns)
{
        uint64_t total = duration_ns;

        pthread_mutex_lock(&pending.lock);
        for (size_t i = 0; ctr_id && i < PENDING; i++)
                if (STR_EQ(pending.v[i].id, ctr_id)) {
                        total += pending.v[i].ns;
                        pending.v[i].id[0] = '\0';
                        break;
                }
        pthread_mutex_unlock(&pending.lock);
        metrics_pod_phase("container", total);
        return total;
}

void metrics_image_pull(bool ok, uint64_t duration_ns)
{
        pthread_once(&once, init);
        metrics_add(metrics_series(m.pulls, NULL), 1);
        if (!ok)
                metrics_add(metrics_series(m.pull_failures, NULL), 1);
        metrics_observe(metrics_series(m.pull_duration, NULL), metrics_seconds(duration_ns));
}
