#pragma once

/*
 * The method table: every method of the served services, keyed by its gRPC
 * path "/<package>.<Service>/<Method>", built from protoc-c's service
 * descriptors, with the handler bound to it if there is one.
 */

#include <stddef.h>

#include <protobuf-c/protobuf-c.h>

#include "common/error.h"
#include "service/handler.h"

struct dispatch_entry {
        char *path;
        const ProtobufCServiceDescriptor *service;
        const ProtobufCMethodDescriptor *method;
        const struct srv_binding *binding; /* NULL: not implemented */
};

struct dispatch_table;

/* Bindings that name a method absent from the descriptors are an error (a
 * typo would otherwise silently leave a method unimplemented). */
int dispatch_table_new(const ProtobufCServiceDescriptor *const *services, size_t n_services,
                       const struct srv_binding *const *bindings, size_t n_bindings,
                       struct dispatch_table **ret_table, struct uvm_error **err);
struct dispatch_table *dispatch_table_free(struct dispatch_table *t);

const struct dispatch_entry *dispatch_lookup(const struct dispatch_table *t, const char *path,
                                             size_t len);

size_t dispatch_count(const struct dispatch_table *t);
const struct dispatch_entry *dispatch_at(const struct dispatch_table *t, size_t i);
