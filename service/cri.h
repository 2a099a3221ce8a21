#pragma once

/* Helpers shared by the CRI handlers (cri_pod.c, cri_container.c). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/error.h"
#include "proto/api.pb-c.h"

#include "sandbox/record.h"
#include "sandbox/state.h"
#include "service/handler.h"
#include "service/list_cache.h"

/* protoc-c map entries (labels, annotations) to records and back. */
int cri_kv_from(void *const *entries, size_t n, const char *field, struct record_kv **ret,
                size_t *ret_n, struct uvm_error **err);
void *cri_kv_to(struct srv_ctx *ctx, const struct record_kv *kv, size_t n,
                const ProtobufCMessageDescriptor *desc, size_t *ret_n);
/* An array in the call's arena with room for element n (of size bytes): v
 * itself while n < *cap, else a copy twice the size (the arena cannot grow
 * in place), *cap updated; v NULL with *cap set allocates *cap. NULL when out
 * of memory. */
void *cri_room(struct srv_ctx *ctx, void *v, size_t n, size_t *cap, size_t size);
/* Every selector entry is among kv. */
bool cri_labels_match(const struct record_kv *kv, size_t n, void *const *sel, size_t n_sel);

/* namespace_options.userns_options: NULL or mode NODE is the host's user
 * namespace (ret cleared); POD needs valid uids and gids; other modes are
 * refused. */
int cri_userns_from(const Runtime__V1__UserNamespace *u, struct userns_map *ret,
                    struct uvm_error **err);

Runtime__V1__UInt64Value *cri_u64(struct srv_ctx *ctx, uint64_t v);
Runtime__V1__ContainerState cri_ctr_state(enum ctr_state s);

/* An unfiltered List: answered from the daemon's list cache while the
 * sandbox's List generation has not moved, else built by build(arg) (a walk
 * of the live records, after the generation was read) and kept. The answer
 * goes to the call packed (srv_reply_packed). */
int cri_list_cached(struct srv_ctx *ctx, enum list_kind kind, list_build_fn build, void *arg,
                    struct uvm_error **err);
/* The fast paths (srv_fast_fn) of ListPodSandbox and ListContainers: an
 * unfiltered request answered from the cache's current entry, if there is
 * one and the cache is not being swapped right now. */
bool cri_list_pods_fast(struct srv_ctx *ctx, const ProtobufCMessage *req);
bool cri_list_ctrs_fast(struct srv_ctx *ctx, const ProtobufCMessage *req);
