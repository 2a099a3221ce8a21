#pragma once

/*
 * The served .proto files as an index, for server reflection: built at
 * start-up from a FileDescriptorSet embedded at build time.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct descdb;

struct descdb_file {
        char *name;     /* "api.proto" */
        uint8_t *bytes; /* serialized FileDescriptorProto */
        size_t len;
        size_t *deps; /* indexes of imported files */
        size_t n_deps;
};

int descdb_new(const uint8_t *set, size_t len, struct descdb **ret_db, struct uvm_error **err);
struct descdb *descdb_free(struct descdb *db);

/* Index of the file defining a fully qualified symbol (message, enum, enum
 * value, service, method "pkg.Svc.Method", field "pkg.Msg.field"), or -1. */
long descdb_find_symbol(const struct descdb *db, const char *symbol);
long descdb_find_file(const struct descdb *db, const char *name);

size_t descdb_n_files(const struct descdb *db);
const struct descdb_file *descdb_file(const struct descdb *db, size_t i);

size_t descdb_n_services(const struct descdb *db);
const char *descdb_service(const struct descdb *db, size_t i); /* "runtime.v1.RuntimeService" */

/* Writes the file and its transitive imports into order[] (file first, no
 * duplicates); returns the count. order has room for descdb_n_files(). */
size_t descdb_closure(const struct descdb *db, size_t file, size_t *order);
