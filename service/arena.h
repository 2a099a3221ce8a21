#pragma once

/*
 * A per-call allocator. Handlers build response messages from it, so a
 * response (strings, arrays, sub-messages) is released in one go after it
 * has been packed, and never has to be walked by a hand-written free.
 */

#include <stdarg.h>
#include <stddef.h>

struct arena_chunk;

struct arena {
        struct arena_chunk *head;
};

void *arena_alloc(struct arena *a, size_t size);    /* zeroed; NULL on OOM */
char *arena_strdup(struct arena *a, const char *s); /* NULL s gives "" */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
        __attribute__((format(printf, 2, 0)));
void arena_release(struct arena *a);
