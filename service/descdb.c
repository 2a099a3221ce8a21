#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "google/protobuf/descriptor.pb-c.h"

#include "common/macros.h"
#include "service/descdb.h"

struct symbol {
        char *name;
        size_t file;
};

struct descdb {
        struct descdb_file *files;
        size_t n_files;
        struct symbol *symbols; /* sorted by name */
        size_t n_symbols, cap_symbols;
        char **services;
        size_t n_services;
};

static int add_symbol(struct descdb *db, size_t file, const char *prefix, const char *name)
{
        struct symbol *s;

        if (db->n_symbols == db->cap_symbols) {
                size_t cap = db->cap_symbols ? db->cap_symbols * 2 : 256;
                s = realloc(db->symbols, cap * sizeof(*s));
                if (!s)
                        return -ENOMEM;
                db->symbols = s;
                db->cap_symbols = cap;
        }
        s = &db->symbols[db->n_symbols];
        if (asprintf(&s->name, "%s%s%s", prefix, *prefix ? "." : "", name) < 0)
                return -ENOMEM;
        s->file = file;
        db->n_symbols++;
        return 0;
}

static int add_enum(struct descdb *db, size_t file, const char *prefix,
                    const Google__Protobuf__EnumDescriptorProto *e)
{
        int r = add_symbol(db, file, prefix, e->name);

        /* Enum values are scoped like siblings of the enum (C++ rules). */
        for (size_t i = 0; r == 0 && i < e->n_value; i++)
                r = add_symbol(db, file, prefix, e->value[i]->name);
        return r;
}

static int add_message(struct descdb *db, size_t file, const char *prefix,
                       const Google__Protobuf__DescriptorProto *m)
{
        _cleanup_free_ char *full = NULL;
        int r;

        if (asprintf(&full, "%s%s%s", prefix, *prefix ? "." : "", m->name) < 0)
                return -ENOMEM;
        r = add_symbol(db, file, prefix, m->name);
        for (size_t i = 0; r == 0 && i < m->n_field; i++)
                r = add_symbol(db, file, full, m->field[i]->name);
        for (size_t i = 0; r == 0 && i < m->n_nested_type; i++)
                r = add_message(db, file, full, m->nested_type[i]);
        for (size_t i = 0; r == 0 && i < m->n_enum_type; i++)
                r = add_enum(db, file, full, m->enum_type[i]);
        return r;
}

static int add_service(struct descdb *db, size_t file, const char *pkg,
                       const Google__Protobuf__ServiceDescriptorProto *s)
{
        _cleanup_free_ char *full = NULL;
        char **v;
        int r;

        if (asprintf(&full, "%s%s%s", pkg, *pkg ? "." : "", s->name) < 0)
                return -ENOMEM;
        r = add_symbol(db, file, pkg, s->name);
        for (size_t i = 0; r == 0 && i < s->n_method; i++)
                r = add_symbol(db, file, full, s->method[i]->name);
        if (r < 0)
                return r;
        v = realloc(db->services, (db->n_services + 1) * sizeof(*v));
        if (!v)
                return -ENOMEM;
        db->services = v;
        v[db->n_services++] = TAKE_PTR(full);
        return 0;
}

static int index_file(struct descdb *db, size_t i, const Google__Protobuf__FileDescriptorProto *f)
{
        const char *pkg = f->package ? f->package : "";
        struct descdb_file *df = &db->files[i];
        int r = 0;

        df->name = strdup(f->name ? f->name : "");
        df->len = protobuf_c_message_get_packed_size(&f->base);
        df->bytes = malloc(df->len ? df->len : 1);
        if (!df->name || !df->bytes)
                return -ENOMEM;
        protobuf_c_message_pack(&f->base, df->bytes);
        for (size_t j = 0; r == 0 && j < f->n_message_type; j++)
                r = add_message(db, i, pkg, f->message_type[j]);
        for (size_t j = 0; r == 0 && j < f->n_enum_type; j++)
                r = add_enum(db, i, pkg, f->enum_type[j]);
        for (size_t j = 0; r == 0 && j < f->n_service; j++)
                r = add_service(db, i, pkg, f->service[j]);
        return r;
}

static int link_deps(struct descdb *db, const Google__Protobuf__FileDescriptorSet *set,
                     struct uvm_error **err)
{
        for (size_t i = 0; i < db->n_files; i++) {
                const Google__Protobuf__FileDescriptorProto *f = set->file[i];
                db->files[i].deps = calloc(f->n_dependency ? f->n_dependency : 1, sizeof(size_t));
                if (!db->files[i].deps)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                for (size_t j = 0; j < f->n_dependency; j++) {
                        long k = descdb_find_file(db, f->dependency[j]);
                        if (k < 0)
                                return uvm_error_set(err, EINVAL,
                                                     "descriptor set: %s imports missing %s",
                                                     f->name, f->dependency[j]);
                        db->files[i].deps[db->files[i].n_deps++] = (size_t) k;
                }
        }
        return 0;
}

static int symbol_cmp(const void *a, const void *b)
{
        return strcmp(((const struct symbol *) a)->name, ((const struct symbol *) b)->name);
}

int descdb_new(const uint8_t *bytes, size_t len, struct descdb **ret_db, struct uvm_error **err)
{
        Google__Protobuf__FileDescriptorSet *set;
        struct descdb *db;
        int r = 0;

        set = google__protobuf__file_descriptor_set__unpack(NULL, len, bytes);
        if (!set)
                return uvm_error_set(err, EINVAL, "cannot decode the embedded descriptor set");
        db = calloc(1, sizeof(*db));
        if (db)
                db->files = calloc(set->n_file ? set->n_file : 1, sizeof(*db->files));
        if (!db || !db->files) {
                free(db);
                google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
                return uvm_error_set(err, ENOMEM, "out of memory");
        }
        db->n_files = set->n_file;
        for (size_t i = 0; r == 0 && i < set->n_file; i++)
                r = index_file(db, i, set->file[i]);
        if (r < 0)
                r = uvm_error_set(err, -r, "indexing descriptors: out of memory");
        if (r == 0)
                r = link_deps(db, set, err);
        google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
        if (r < 0) {
                descdb_free(db);
                return r;
        }
        qsort(db->symbols, db->n_symbols, sizeof(*db->symbols), symbol_cmp);
        *ret_db = db;
        return 0;
}

struct descdb *descdb_free(struct descdb *db)
{
        if (!db)
                return NULL;
        for (size_t i = 0; i < db->n_files; i++) {
                free(db->files[i].name);
                free(db->files[i].bytes);
                free(db->files[i].deps);
        }
        for (size_t i = 0; i < db->n_symbols; i++)
                free(db->symbols[i].name);
        for (size_t i = 0; i < db->n_services; i++)
                free(db->services[i]);
        free(db->files);
        free(db->symbols);
        free(db->services);
        free(db);
        return NULL;
}

long descdb_find_symbol(const struct descdb *db, const char *symbol)
{
        struct symbol key = {.name = (char *) symbol};
        const struct symbol *s;

        if (!symbol || !db->n_symbols)
                return -1;
        s = bsearch(&key, db->symbols, db->n_symbols, sizeof(key), symbol_cmp);
        return s ? (long) s->file : -1;
}

long descdb_find_file(const struct descdb *db, const char *name)
{
        for (size_t i = 0; name && i < db->n_files; i++)
                if (STR_EQ(db->files[i].name, name))
                        return (long) i;
        return -1;
}

size_t descdb_n_files(const struct descdb *db)
{
        return db->n_files;
}

const struct descdb_file *descdb_file(const struct descdb *db, size_t i)
{
        return i < db->n_files ? &db->files[i] : NULL;
}

size_t descdb_n_services(const struct descdb *db)
{
        return db->n_services;
}

const char *descdb_service(const struct descdb *db, size_t i)
{
        return i < db->n_services ? db->services[i] : NULL;
}

static size_t closure_add(const struct descdb *db, size_t file, size_t *order, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (order[i] == file)
                        return n;
        order[n++] = file;
        for (size_t i = 0; i < db->files[file].n_deps; i++)
                n = closure_add(db, db->files[file].deps[i], order, n);
        return n;
}

size_t descdb_closure(const struct descdb *db, size_t file, size_t *order)
{
        return file < db->n_files ? closure_add(db, file, order, 0) : 0;
}
