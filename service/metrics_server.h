#pragma once

/*
 * The Prometheus endpoint: HTTP/1.1 on a loopback address, GET /metrics
 * answered with the registry's text (version 0.0.4), one connection at a
 * time on a thread of its own (a scrape every few seconds needs no more; a
 * client that sends nothing is dropped after a few seconds). Linux only.
 */

#include "common/error.h"
#include "service/metrics.h"

struct metrics_server;

/* address: "127.0.0.1:PORT" or "[::1]:PORT" (config_loopback_address). A
 * port in use is a clear error. */
int metrics_server_start(const char *address, struct metrics_registry *r,
                         struct metrics_server **ret, struct uvm_error **err);
struct metrics_server *metrics_server_stop(struct metrics_server *s);
