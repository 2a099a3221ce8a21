#pragma once

/*
 * The packed answers of unfiltered List calls, kept while nothing they show
 * has changed.
 *
 * The kubelet lists every pod and every container each second with no
 * filter, and most of those answers are the same as the last. One entry per
 * method holds the serialized answer and the List generation (sandbox/list.h)
 * read before the walk that built it: a call that reads the same generation
 * is answered with those bytes, without a walk, copies or packing. Any
 * other call builds, packs once and replaces the entry.
 *
 * An entry is an immutable, reference-counted buffer: the cache's lock is
 * held only to swap or take a reference, and the bytes go out to gRPC by
 * reference (released from whichever thread gRPC frees them on).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "common/error.h"
#include "proto/api.pb-c.h"

enum list_kind {
        LIST_PODS, /* ListPodSandbox */
        LIST_CTRS, /* ListContainers */
        LIST_KINDS,
};

struct list_cache;
struct list_reply;

/* NULL only when out of memory. */
struct list_cache *list_cache_new(void);
struct list_cache *list_cache_free(struct list_cache *c);

/* Build the answer into *ret (its memory the builder's, e.g. the call's
 * arena); >= 0, or -errno with err set. */
typedef int (*list_build_fn)(void *arg, ProtobufCMessage **ret, struct uvm_error **err);

/* The answer for kind at generation gen (read before calling: build walks
 * after it): the entry's when it was built at gen, else build()'s, packed
 * and kept unless a newer entry arrived meanwhile. *ret_reply is a
 * reference for the caller. */
int list_cache_answer(struct list_cache *c, enum list_kind kind, uint64_t gen, list_build_fn build,
                      void *arg, struct list_reply **ret_reply, struct uvm_error **err);

/* The entry for kind when it was built at gen, without waiting: NULL when
 * there is none at gen or another thread holds the cache's lock (the caller
 * then goes the way that may wait, list_cache_answer). For the queue
 * thread's fast path. A found entry counts as a hit; *ret is a reference
 * for the caller. */
struct list_reply *list_cache_peek(struct list_cache *c, enum list_kind kind, uint64_t gen);

const uint8_t *list_reply_data(const struct list_reply *r);
size_t list_reply_len(const struct list_reply *r);
void list_reply_ref(struct list_reply *r);
/* Takes void * so it can be given as a release callback. */
void list_reply_unref(void *r);

/* Counters for tests and debugging: answers from the entry (peeks
 * included), and builds. */
void list_cache_counts(struct list_cache *c, uint64_t *ret_hits, uint64_t *ret_builds);

/* True when a filter keeps everything: absent, or every field empty. Only
 * those Lists are cached; a filtered List is built each time. */
bool list_pod_filter_empty(const Runtime__V1__PodSandboxFilter *f);
bool list_ctr_filter_empty(const Runtime__V1__ContainerFilter *f);
