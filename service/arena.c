#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "service/arena.h"

#define ARENA_CHUNK 4096

struct arena_chunk {
        struct arena_chunk *next;
        size_t used, size;
        max_align_t data[];
};

void *arena_alloc(struct arena *a, size_t size)
{
        struct arena_chunk *c = a->head;
        size_t need = (size + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
        void *p;

        if (need == 0)
                need = sizeof(max_align_t);
        if (!c || c->size - c->used < need) {
                size_t sz = need > ARENA_CHUNK ? need : ARENA_CHUNK;
                c = malloc(sizeof(*c) + sz);
                if (!c)
                        return NULL;
                c->size = sz;
                c->used = 0;
                /* A large one-off block goes behind the current chunk so the
                 * current chunk's free space stays usable. */
                if (need > ARENA_CHUNK && a->head) {
                        c->next = a->head->next;
                        a->head->next = c;
                } else {
                        c->next = a->head;
                        a->head = c;
                }
        }
        p = (char *) c->data + c->used;
        c->used += need;
        memset(p, 0, size);
        return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
        size_t n;
        char *p;

        if (!s)
                s = "";
        n = strlen(s);
        p = arena_alloc(a, n + 1);
        if (p)
                memcpy(p, s, n + 1);
        return p;
}

char *arena_vprintf(struct arena *a, const char *fmt, va_list ap)
{
        char *tmp = NULL, *p;

        if (vasprintf(&tmp, fmt, ap) < 0)
                return NULL;
        p = arena_strdup(a, tmp);
        free(tmp);
        return p;
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
        va_list ap;
        char *p;

        va_start(ap, fmt);
        p = arena_vprintf(a, fmt, ap);
        va_end(ap);
        return p;
}

void arena_release(struct arena *a)
{
        struct arena_chunk *c = a->head;

        while (c) {
                struct arena_chunk *n = c->next;
                free(c);
                c = n;
        }
        a->head = NULL;
}
