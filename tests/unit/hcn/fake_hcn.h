#pragma once

/*
 * A fake HCN behind struct hcn_api for the tests of network/hcn.c: it keeps
 * namespaces and attachments like HCN would (ENOENT, EEXIST, EBUSY for a
 * namespace that still has endpoints), logs every call, and fails the calls
 * that a rule matches, with an error record.
 */

#include <stddef.h>

#include "network/hcn.h"

#define FAKE_MAX_LOG 64
#define FAKE_MAX_NS 8
#define FAKE_MAX_EPS 8

/* Fail a call: by its number (1-based, 0: any) and/or its op ("create",
 * "delete", "add", "remove", "query"; NULL: any), with r and record. */
struct fake_rule {
        size_t call;
        const char *op;
        int r;
        const char *record;
};

struct fake_hcn {
        char log[FAKE_MAX_LOG][160]; /* "add <ns> <ep>", ... */
        size_t n_log;
        size_t calls;
        struct fake_rule rules[4];
        char last_settings[256];
        char last_query[256];
        char namespaces[FAKE_MAX_NS][HCN_GUID_LEN + 1];
        size_t n_ns;
        struct {
                char ns[HCN_GUID_LEN + 1];
                char ep[HCN_GUID_LEN + 1];
        } attached[FAKE_MAX_EPS];
        size_t n_attached;
        struct {
                const char *id;
                const char *doc;
        } endpoints[FAKE_MAX_EPS];
        size_t n_endpoints;
};

extern struct fake_hcn fake;
extern const struct hcn_api fake_hcn_api;

void fake_hcn_reset(void);
/* An endpoint that exists, with the document its query returns. */
void fake_hcn_endpoint(const char *id, const char *doc);
void fake_hcn_fail(size_t call, const char *op, int r, const char *record);
/* The log is exactly expected (NULL-terminated), "%s" replaced by the
 * namespace id in each line; prints the difference otherwise. */
int fake_hcn_log_is(const char *ns_id, const char *const *expected);

/* A realistic HCN endpoint document (HcnQueryEndpointProperties, schema 2)
 * in buf. */
const char *fake_hcn_doc(char *buf, size_t size, const char *id, const char *mac, const char *ip,
                         int prefix, const char *gateway);
