#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/platform.h"
#include "stream/token.h"

struct token_slot {
        char token[TOKEN_LEN + 1];
        uint64_t expires_ms;
        struct token_request *req; /* NULL: the slot is free */
};

struct token_table {
        pthread_mutex_t lock;
        uint64_t ttl_ms;
        uint64_t (*clock_ms)(void);
        size_t used;               /* lock */
        size_t n_slots;            /* max_outstanding, fixed */
        struct token_slot slots[]; /* lock */
};

struct token_request *token_request_free(struct token_request *r)
{
        if (!r)
                return NULL;
        free(r->pod_id);
        free(r->container_id);
        strv_free(r->argv);
        free(r->ports);
        free(r);
        return NULL;
}

static int dup_string(const char *s, char **ret)
{
        if (!s)
                return 0;
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

static int dup_argv(char *const *argv, char ***ret)
{
        size_t n = 0;

        if (!argv)
                return 0;
        while (argv[n])
                n++;
        *ret = calloc(n + 1, sizeof(char *));
        if (!*ret)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                if (dup_string(argv[i], &(*ret)[i]) < 0)
                        return -ENOMEM;
        return 0;
}

int token_request_copy(const struct token_request *src, struct token_request **ret,
                       struct uvm_error **err)
{
        _cleanup_(token_request_freep) struct token_request *r = calloc(1, sizeof(*r));

        if (!r)
                return uvm_error_set(err, ENOMEM, "out of memory");
        r->kind = src->kind;
        r->tty = src->tty;
        r->want_stdin = src->want_stdin;
        r->want_stdout = src->want_stdout;
        r->want_stderr = src->want_stderr;
        if (dup_string(src->pod_id, &r->pod_id) < 0 ||
            dup_string(src->container_id, &r->container_id) < 0 ||
            dup_argv(src->argv, &r->argv) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if (src->n_ports > 0) {
                r->ports = calloc(src->n_ports, sizeof(int32_t));
                if (!r->ports)
                        return uvm_error_set(err, ENOMEM, "out of memory");
                memcpy(r->ports, src->ports, src->n_ports * sizeof(int32_t));
                r->n_ports = src->n_ports;
        }
        *ret = TAKE_PTR(r);
        return 0;
}

static uint64_t monotonic_ms(void)
{
        return plat_now_ns() / 1000000u;
}

struct token_table *token_table_new(size_t max_outstanding, uint64_t ttl_ms,
                                    uint64_t (*clock_ms)(void))
{
        struct token_table *t;

        if (max_outstanding == 0 ||
            max_outstanding > (SIZE_MAX - sizeof(*t)) / sizeof(struct token_slot))
                return NULL;
        t = calloc(1, sizeof(*t) + max_outstanding * sizeof(struct token_slot));
        if (!t)
                return NULL;
        if (pthread_mutex_init(&t->lock, NULL) != 0) {
                free(t);
                return NULL;
        }
        t->ttl_ms = ttl_ms;
        t->clock_ms = clock_ms ? clock_ms : monotonic_ms;
        t->n_slots = max_outstanding;
        return t;
}

struct token_table *token_table_free(struct token_table *t)
{
        if (!t)
                return NULL;
        for (size_t i = 0; i < t->n_slots; i++)
                token_request_free(t->slots[i].req);
        pthread_mutex_destroy(&t->lock);
        free(t);
        return NULL;
}

size_t token_outstanding(struct token_table *t)
{
        size_t n;

        pthread_mutex_lock(&t->lock);
        n = t->used;
        pthread_mutex_unlock(&t->lock);
        return n;
}

static int random_bytes(uint8_t *buf, size_t n, struct uvm_error **err)
{
        int r = plat_random(buf, n);

        return r < 0 ? uvm_error_set(err, -r, "no random bytes for a token") : 0;
}

/* base64url (RFC 4648 section 5) without padding. */
static void base64url(const uint8_t *in, size_t n, char *out)
{
        static const char alphabet[] =
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        uint32_t acc = 0;
        unsigned bits = 0;

        for (size_t i = 0; i < n; i++) {
                acc = acc << 8 | in[i];
                bits += 8;
                while (bits >= 6) {
                        bits -= 6;
                        *out++ = alphabet[(acc >> bits) & 63];
                }
        }
        if (bits > 0)
                *out++ = alphabet[(acc << (6 - bits)) & 63];
        *out = '\0';
}

/* Drop expired tokens; lock held. */
static void drop_expired(struct token_table *t, uint64_t now)
{
        for (size_t i = 0; i < t->n_slots; i++) {
                struct token_slot *s = &t->slots[i];

                if (s->req && now >= s->expires_ms) {
                        s->req = token_request_free(s->req);
                        t->used--;
                }
        }
}

int token_issue(struct token_table *t, const struct token_request *req,
                char ret_token[TOKEN_LEN + 1], struct uvm_error **err)
{
        _cleanup_(token_request_freep) struct token_request *copy = NULL;
        uint8_t raw[TOKEN_BYTES];
        char token[TOKEN_LEN + 1];
        struct token_slot *slot = NULL;
        uint64_t now;
        int r;

        r = token_request_copy(req, &copy, err);
        if (r < 0)
                return r;
        r = random_bytes(raw, sizeof(raw), err);
        if (r < 0)
                return r;
        base64url(raw, sizeof(raw), token);

        pthread_mutex_lock(&t->lock);
        now = t->clock_ms();
        if (t->used == t->n_slots)
                drop_expired(t, now);
        for (size_t i = 0; i < t->n_slots && !slot; i++)
                if (!t->slots[i].req)
                        slot = &t->slots[i];
        if (slot) {
                memcpy(slot->token, token, sizeof(token));
                slot->expires_ms = t->ttl_ms > UINT64_MAX - now ? UINT64_MAX : now + t->ttl_ms;
                slot->req = TAKE_PTR(copy);
                t->used++;
        }
        pthread_mutex_unlock(&t->lock);
        if (!slot)
                return uvm_error_set(err, EBUSY, "%zu streaming tokens outstanding", t->n_slots);
        memcpy(ret_token, token, sizeof(token));
        return 0;
}

/* No early exit: the time taken does not depend on where a and b differ. */
static bool equal_ct(const char *a, const char *b, size_t n)
{
        volatile unsigned char diff = 0;

        for (size_t i = 0; i < n; i++)
                diff |= (unsigned char) (a[i] ^ b[i]);
        return diff == 0;
}

int token_redeem(struct token_table *t, const char *token, struct token_request **ret_req,
                 struct uvm_error **err)
{
        struct token_request *req = NULL;
        bool expired = false;
        size_t found;
        uint64_t now;

        /* The length is no secret: every token has the same one. */
        if (strnlen(token, TOKEN_LEN + 1) != TOKEN_LEN)
                return uvm_error_set(err, ENOENT, "unknown streaming token");
        pthread_mutex_lock(&t->lock);
        now = t->clock_ms();
        found = t->n_slots;
        for (size_t i = 0; i < t->n_slots; i++)
                if (t->slots[i].req && equal_ct(t->slots[i].token, token, TOKEN_LEN))
                        found = i;
        if (found < t->n_slots) {
                struct token_slot *s = &t->slots[found];

                req = TAKE_PTR(s->req);
                expired = now >= s->expires_ms;
                t->used--;
        }
        pthread_mutex_unlock(&t->lock);
        if (!req)
                return uvm_error_set(err, ENOENT, "unknown or already used streaming token");
        if (expired) {
                token_request_free(req);
                return uvm_error_set(err, ENOENT, "streaming token expired");
        }
        *ret_req = req;
        return 0;
}
