#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/frame.h"

static const char *const rpc_names[] = {
        [1] = "Create",
        [2] = "Start",
        [3] = "ShutdownGraceful",
        [4] = "ShutdownForced",
        [5] = "ExecuteProcess",
        [6] = "WaitForProcess",
        [7] = "SignalProcess",
        [8] = "ResizeConsole",
        [9] = "GetProperties",
        [10] = "ModifySettings",
        [11] = "NegotiateProtocol",
        [12] = "DumpStacks",
        [13] = "DeleteContainerState",
        [14] = "UpdateContainer",
        [15] = "LifecycleNotification",
};

static const char *const data_names[] = {
        [AGENT_DATA_WRITE] = "Data",
        [AGENT_DATA_CLOSE] = "Close",
        [AGENT_DATA_CREDIT] = "Credit",
};

/* The table index of a ComputeSystem rpc, or 0 if rpc is not one. */
static unsigned rpc_index(uint32_t rpc)
{
        unsigned n = (rpc >> 8) & 0xfffu;

        if (rpc != AGENT_RPC(n) || n == 0 || n >= ARRAY_SIZE(rpc_names))
                return 0;
        return n;
}

const char *agent_rpc_name(uint32_t type)
{
        uint32_t class = type & AGENT_CLASS_MASK, rpc = type & AGENT_RPC_MASK;

        if (class == AGENT_CLASS_NOTIFY)
                return rpc == AGENT_NOTIFY_CONTAINER ? "ContainerNotification" : "Unknown";
        if (class == AGENT_CLASS_DATA)
                return rpc < ARRAY_SIZE(data_names) ? data_names[rpc] : "Unknown";
        if (class != 0 && class != AGENT_CLASS_REQUEST && class != AGENT_CLASS_RESPONSE)
                return "Unknown";
        return rpc_index(rpc) ? rpc_names[rpc_index(rpc)] : "Unknown";
}

bool agent_type_is_valid(uint32_t type)
{
        uint32_t rpc = type & AGENT_RPC_MASK;

        switch (type & AGENT_CLASS_MASK) {
        case AGENT_CLASS_REQUEST:
        case AGENT_CLASS_RESPONSE:
                return rpc_index(rpc) != 0;
        case AGENT_CLASS_NOTIFY:
                return rpc == AGENT_NOTIFY_CONTAINER;
        case AGENT_CLASS_DATA:
                return rpc <= AGENT_DATA_CREDIT;
        default:
                return false;
        }
}

static bool type_is_json(uint32_t type)
{
        return (type & AGENT_CLASS_MASK) != AGENT_CLASS_DATA ||
               (type & AGENT_RPC_MASK) == AGENT_DATA_CREDIT;
}

/* Payload bound for a (valid) type, data frames bounded by max_data. */
static size_t type_max_payload(uint32_t type, uint32_t max_data)
{
        if ((type & AGENT_CLASS_MASK) != AGENT_CLASS_DATA)
                return AGENT_MAX_JSON;
        if ((type & AGENT_RPC_MASK) == AGENT_DATA_CLOSE)
                return 0;
        return max_data;
}

bool agent_limits_valid(struct agent_limits l)
{
        return l.max_data >= AGENT_MAX_DATA && l.max_data <= AGENT_BULK_MAX_DATA &&
               l.window >= AGENT_STREAM_WINDOW && l.window <= AGENT_BULK_WINDOW &&
               l.window >= l.max_data;
}

int agent_limits_from_json(json_object *obj, const char *what, struct agent_limits *ret,
                           struct uvm_error **err)
{
        json_object *m = NULL, *w = NULL;
        int64_t max, win;

        if (!json_object_is_type(obj, json_type_object) ||
            !json_object_object_get_ex(obj, "MaxData", &m) ||
            !json_object_object_get_ex(obj, "Window", &w) ||
            !json_object_is_type(m, json_type_int) || !json_object_is_type(w, json_type_int))
                return uvm_error_set(err, EBADMSG,
                                     "%s: BridgeLimits is not an object of integers MaxData and "
                                     "Window",
                                     what);
        max = json_object_get_int64(m);
        win = json_object_get_int64(w);
        if (max < AGENT_MAX_DATA || max > UINT32_MAX || win < AGENT_STREAM_WINDOW ||
            win > UINT32_MAX)
                return uvm_error_set(err, EBADMSG,
                                     "%s: BridgeLimits MaxData %" PRId64 ", Window %" PRId64
                                     " below the defaults %u, %u (or beyond 32 bits)",
                                     what, max, win, AGENT_MAX_DATA, AGENT_STREAM_WINDOW);
        *ret = (struct agent_limits){(uint32_t) max, (uint32_t) win};
        return 0;
}

json_object *agent_limits_to_json(struct agent_limits l)
{
        json_object *o = json_object_new_object();

        if (!o || json_object_object_add(o, "MaxData", json_object_new_int64(l.max_data)) < 0 ||
            json_object_object_add(o, "Window", json_object_new_int64(l.window)) < 0) {
                json_object_put(o);
                return NULL;
        }
        return o;
}

/* An identifier string: present, a string, bounded, no embedded NUL. */
static int check_id_field(json_object *obj, const char *key, uint32_t type, struct uvm_error **err)
{
        json_object *v;

        if (!json_object_object_get_ex(obj, key, &v))
                return uvm_error_set(err, EBADMSG, "agent %s frame: missing \"%s\"",
                                     agent_rpc_name(type), key);
        if (!json_object_is_type(v, json_type_string))
                return uvm_error_set(err, EBADMSG, "agent %s frame: \"%s\" is not a string",
                                     agent_rpc_name(type), key);
        if ((size_t) json_object_get_string_len(v) > AGENT_MAX_ID_LEN)
                return uvm_error_set(err, EBADMSG, "agent %s frame: \"%s\" is longer than %u bytes",
                                     agent_rpc_name(type), key, AGENT_MAX_ID_LEN);
        if (strlen(json_object_get_string(v)) != (size_t) json_object_get_string_len(v))
                return uvm_error_set(err, EBADMSG, "agent %s frame: \"%s\" contains a NUL",
                                     agent_rpc_name(type), key);
        return 0;
}

static int check_response(json_object *obj, uint32_t type, struct uvm_error **err)
{
        json_object *v;
        int64_t r;

        if (!json_object_object_get_ex(obj, "Result", &v))
                return uvm_error_set(err, EBADMSG, "agent %s response: missing \"Result\"",
                                     agent_rpc_name(type));
        if (!json_object_is_type(v, json_type_int))
                return uvm_error_set(err, EBADMSG,
                                     "agent %s response: \"Result\" is not an integer",
                                     agent_rpc_name(type));
        r = json_object_get_int64(v);
        if (r > 0 || r < -AGENT_MAX_ERRNO)
                return uvm_error_set(err, EBADMSG,
                                     "agent %s response: \"Result\" %" PRId64
                                     " is neither 0 nor a negative errno",
                                     agent_rpc_name(type), r);
        if (json_object_object_get_ex(obj, "ErrorMessage", &v) &&
            !json_object_is_type(v, json_type_string))
                return uvm_error_set(err, EBADMSG,
                                     "agent %s response: \"ErrorMessage\" is not a string",
                                     agent_rpc_name(type));
        return 0;
}

static int check_credit(json_object *obj, struct uvm_error **err)
{
        json_object *v;
        int64_t c;

        if (!json_object_object_get_ex(obj, "Credit", &v) || !json_object_is_type(v, json_type_int))
                return uvm_error_set(err, EBADMSG,
                                     "agent credit frame: \"Credit\" missing or not an integer");
        c = json_object_get_int64(v);
        if (c < 1 || c > AGENT_BULK_WINDOW)
                return uvm_error_set(err, EBADMSG,
                                     "agent credit frame: credit %" PRId64 " outside [1, %u]", c,
                                     AGENT_BULK_WINDOW);
        return 0;
}

int agent_frame_check_json(uint32_t type, json_object *obj, struct uvm_error **err)
{
        int r;

        if (!json_object_is_type(obj, json_type_object))
                return uvm_error_set(err, EBADMSG, "agent %s frame: payload is not a JSON object",
                                     agent_rpc_name(type));
        switch (type & AGENT_CLASS_MASK) {
        case AGENT_CLASS_REQUEST:
                r = check_id_field(obj, "ContainerId", type, err);
                if (r < 0)
                        return r;
                return check_id_field(obj, "ActivityId", type, err);
        case AGENT_CLASS_RESPONSE:
                return check_response(obj, type, err);
        case AGENT_CLASS_NOTIFY:
                return check_id_field(obj, "ContainerId", type, err);
        case AGENT_CLASS_DATA:
                if ((type & AGENT_RPC_MASK) == AGENT_DATA_CREDIT)
                        return check_credit(obj, err);
                break;
        }
        return uvm_error_set(err, EBADMSG, "agent frame type 0x%08x carries no JSON", type);
}

struct agent_frame *agent_frame_free(struct agent_frame *f)
{
        if (!f)
                return NULL;
        json_object_put(f->json);
        free(f->data);
        free(f);
        return NULL;
}

static void put_le32(uint8_t *p, uint32_t v)
{
        for (int i = 0; i < 4; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
        for (int i = 0; i < 8; i++)
                p[i] = (uint8_t) (v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
               (uint32_t) p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
        return (uint64_t) get_le32(p) | (uint64_t) get_le32(p + 4) << 32;
}

static int encode(uint32_t type, uint64_t id, const void *payload, size_t len, uint8_t **ret_buf,
                  size_t *ret_len, struct uvm_error **err)
{
        uint8_t *buf;

        if (!agent_type_is_valid(type))
                return uvm_error_set(err, EINVAL, "agent frame type 0x%08x is not valid", type);
        if (len > type_max_payload(type, AGENT_MAX_DATA))
                return uvm_error_set(
                        err, EMSGSIZE, "agent %s frame: payload of %zu bytes exceeds %zu",
                        agent_rpc_name(type), len, type_max_payload(type, AGENT_MAX_DATA));
        buf = malloc(AGENT_HEADER_SIZE + len);
        if (!buf)
                return uvm_error_set(err, ENOMEM, "out of memory");
        put_le32(buf, type);
        put_le32(buf + 4, (uint32_t) (AGENT_HEADER_SIZE + len));
        put_le64(buf + 8, id);
        if (len > 0)
                memcpy(buf + AGENT_HEADER_SIZE, payload, len);
        *ret_buf = buf;
        *ret_len = AGENT_HEADER_SIZE + len;
        return 0;
}

int agent_frame_encode_json(uint32_t type, uint64_t id, json_object *obj, uint8_t **ret_buf,
                            size_t *ret_len, struct uvm_error **err)
{
        const char *text;
        size_t len;
        int r;

        if (!agent_type_is_valid(type) || !type_is_json(type))
                return uvm_error_set(err, EINVAL, "agent frame type 0x%08x carries no JSON", type);
        r = agent_frame_check_json(type, obj, err);
        if (r < 0)
                return r;
        text = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN, &len);
        if (!text)
                return uvm_error_set(err, ENOMEM, "out of memory");
        return encode(type, id, text, len, ret_buf, ret_len, err);
}

int agent_frame_encode_data(uint32_t type, uint64_t id, const void *data, size_t len,
                            uint8_t **ret_buf, size_t *ret_len, struct uvm_error **err)
{
        uint32_t rpc = type & AGENT_RPC_MASK;

        if ((type & AGENT_CLASS_MASK) != AGENT_CLASS_DATA ||
            (rpc != AGENT_DATA_WRITE && rpc != AGENT_DATA_CLOSE))
                return uvm_error_set(err, EINVAL,
                                     "agent frame type 0x%08x is not a data or close frame", type);
        return encode(type, id, data, len, ret_buf, ret_len, err);
}

/* Decoder. */

/* A data payload of at least this many bytes gets a buffer for the largest
 * frame the limits allow, which the next frames can reuse. */
#define RECYCLE_MIN (16u << 10)

struct agent_decoder {
        uint8_t header[AGENT_HEADER_SIZE];
        size_t header_len;   /* bytes of header[] filled */
        uint32_t type, size; /* valid once header_len == AGENT_HEADER_SIZE */
        uint64_t id;
        uint8_t *payload;                /* grows towards size - AGENT_HEADER_SIZE bytes */
        size_t payload_len;              /* bytes of payload[] filled */
        size_t payload_cap;              /* bytes of payload[] allocated */
        struct agent_frame *head, *tail; /* complete frames, oldest first */
        int error;                       /* sticky negative errno, 0 while healthy */
        char *error_msg;
        struct agent_limits limits;
        uint8_t *spare; /* a recycled data payload buffer */
        size_t spare_cap;
};

struct agent_decoder *agent_decoder_new(void)
{
        struct agent_decoder *d = calloc(1, sizeof(struct agent_decoder));

        if (d)
                d->limits = AGENT_LIMITS_DEFAULT;
        return d;
}

int agent_decoder_set_limits(struct agent_decoder *d, struct agent_limits l)
{
        if (!agent_limits_valid(l))
                return -EINVAL;
        d->limits = l;
        return 0;
}

struct agent_decoder *agent_decoder_free(struct agent_decoder *d)
{
        if (!d)
                return NULL;
        while (d->head) {
                struct agent_frame *f = d->head;

                d->head = f->next;
                agent_frame_free(f);
        }
        free(d->payload);
        free(d->spare);
        free(d->error_msg);
        free(d);
        return NULL;
}

void agent_decoder_recycle(struct agent_decoder *d, struct agent_frame *f)
{
        if (f->data && f->cap >= RECYCLE_MIN && f->cap > d->spare_cap) {
                free(d->spare);
                d->spare = f->data;
                d->spare_cap = f->cap;
        } else {
                free(f->data);
        }
        f->data = NULL;
        f->cap = 0;
}

size_t agent_decoder_partial(const struct agent_decoder *d)
{
        return d->header_len + d->payload_len;
}

/* Record the first error so later calls repeat it; returns it. */
static int decoder_fail(struct agent_decoder *d, int r, struct uvm_error **err)
{
        d->error = r;
        if (err && *err && (*err)->msg)
                d->error_msg = strdup((*err)->msg);
        return r;
}

static int sticky_error(struct agent_decoder *d, struct uvm_error **err)
{
        return uvm_error_set(err, -d->error, "agent decoder failed earlier: %s",
                             d->error_msg ? d->error_msg : "protocol error");
}

static int check_header(struct agent_decoder *d, struct uvm_error **err)
{
        size_t payload, max;

        d->type = get_le32(d->header);
        d->size = get_le32(d->header + 4);
        d->id = get_le64(d->header + 8);
        if (d->size < AGENT_HEADER_SIZE)
                return uvm_error_set(err, EBADMSG,
                                     "agent frame id %" PRIu64 ": size %" PRIu32
                                     " is smaller than the %u-byte header",
                                     d->id, d->size, AGENT_HEADER_SIZE);
        if (!agent_type_is_valid(d->type))
                return uvm_error_set(err, EBADMSG,
                                     "agent frame id %" PRIu64 ": unknown type 0x%08" PRIx32, d->id,
                                     d->type);
        payload = d->size - AGENT_HEADER_SIZE;
        max = type_max_payload(d->type, d->limits.max_data);
        if (payload > max) {
                if ((d->type & AGENT_RPC_MASK) == AGENT_DATA_CLOSE &&
                    (d->type & AGENT_CLASS_MASK) == AGENT_CLASS_DATA)
                        return uvm_error_set(err, EBADMSG,
                                             "agent close frame for stream %" PRIu64
                                             " has a %zu-byte payload",
                                             d->id, payload);
                return uvm_error_set(err, EMSGSIZE,
                                     "agent %s frame id %" PRIu64
                                     ": payload of %zu bytes exceeds the %zu-byte limit",
                                     agent_rpc_name(d->type), d->id, payload, max);
        }
        d->payload = NULL;
        d->payload_len = d->payload_cap = 0;
        return 0;
}

/* A data payload's whole buffer at once (at most max_data): the recycled
 * one if it is big enough. */
static int data_payload_alloc(struct agent_decoder *d, size_t total, struct uvm_error **err)
{
        size_t cap =
                total >= RECYCLE_MIN && d->limits.max_data > total ? d->limits.max_data : total;

        if (d->spare && d->spare_cap >= total) {
                d->payload = TAKE_PTR(d->spare);
                d->payload_cap = d->spare_cap;
                d->spare_cap = 0;
                return 0;
        }
        d->payload = malloc(cap);
        if (!d->payload)
                return uvm_error_set(err, ENOMEM, "out of memory");
        d->payload_cap = cap;
        return 0;
}

/* Make room for n more payload bytes. A JSON payload's buffer grows with
 * the bytes that actually arrive, so a header merely claiming 1 MiB costs
 * nothing; a data payload (at most max_data) gets its size at once rather
 * than being copied at each doubling. */
static int payload_reserve(struct agent_decoder *d, size_t n, struct uvm_error **err)
{
        size_t total = d->size - AGENT_HEADER_SIZE, cap = d->payload_cap;
        uint8_t *p;

        if (d->payload_len + n <= cap)
                return 0;
        if (!type_is_json(d->type) && !d->payload)
                return data_payload_alloc(d, total, err);
        cap = cap < 4096 ? 4096 : cap * 2;
        if (cap < d->payload_len + n)
                cap = d->payload_len + n;
        if (cap > total)
                cap = total;
        p = realloc(d->payload, cap);
        if (!p)
                return uvm_error_set(err, ENOMEM, "out of memory");
        d->payload = p;
        d->payload_cap = cap;
        return 0;
}

/* Where a lenient parse of text stops, if it finds one complete value before
 * len: only used to tell "trailing garbage" apart from other strict-mode errors. */
static size_t lenient_value_end(const uint8_t *text, size_t len)
{
        json_tokener *tok = json_tokener_new();
        json_object *obj;
        size_t end = len;

        if (!tok)
                return len;
        obj = json_tokener_parse_ex(tok, (const char *) text, (int) len);
        if (obj && json_tokener_get_error(tok) == json_tokener_success)
                end = json_tokener_get_parse_end(tok);
        json_object_put(obj);
        json_tokener_free(tok);
        return end;
}

/* Parse a whole JSON payload in strict mode: one value, then only whitespace. */
static int parse_json(const uint8_t *text, size_t len, uint32_t type, uint64_t id,
                      json_object **ret_obj, struct uvm_error **err)
{
        json_tokener *tok = json_tokener_new();
        enum json_tokener_error e;
        json_object *obj;
        size_t end;

        if (!tok)
                return uvm_error_set(err, ENOMEM, "out of memory");
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        obj = json_tokener_parse_ex(tok, (const char *) text, (int) len);
        e = json_tokener_get_error(tok);
        end = json_tokener_get_parse_end(tok);
        json_tokener_free(tok);
        if (e == json_tokener_success && obj && end == len) {
                *ret_obj = obj;
                return 0;
        }
        json_object_put(obj);
        end = lenient_value_end(text, len);
        if (end < len)
                return uvm_error_set(err, EBADMSG,
                                     "agent %s frame id %" PRIu64
                                     ": trailing garbage after the JSON value at offset %zu",
                                     agent_rpc_name(type), id, end);
        return uvm_error_set(err, EBADMSG,
                             "agent %s frame id %" PRIu64 ": payload is not valid JSON (%s)",
                             agent_rpc_name(type), id,
                             e == json_tokener_continue || e == json_tokener_success
                                     ? "truncated"
                                     : json_tokener_error_desc(e));
}

/* The payload of the current frame is complete: turn it into a queued frame. */
static int finish_frame(struct agent_decoder *d, struct uvm_error **err)
{
        _cleanup_(agent_frame_freep) struct agent_frame *f = calloc(1, sizeof(*f));
        int r;

        if (!f)
                return uvm_error_set(err, ENOMEM, "out of memory");
        f->type = d->type;
        f->id = d->id;
        f->len = d->payload_len;
        if (type_is_json(d->type)) {
                r = parse_json(d->payload, d->payload_len, d->type, d->id, &f->json, err);
                if (r < 0)
                        return r;
                r = agent_frame_check_json(d->type, f->json, err);
                if (r < 0) {
                        uvm_error_wrap(err, "frame id %" PRIu64, d->id);
                        return r;
                }
                if ((d->type & AGENT_CLASS_MASK) == AGENT_CLASS_DATA)
                        f->credit = (uint32_t) json_object_get_int64(
                                json_object_object_get(f->json, "Credit"));
                if (f->credit > d->limits.window)
                        return uvm_error_set(err, EBADMSG,
                                             "agent credit frame for stream %" PRIu64
                                             ": credit %" PRIu32 " exceeds the %" PRIu32
                                             "-byte window",
                                             d->id, f->credit, d->limits.window);
                free(d->payload);
        } else if (d->payload_len > 0) {
                f->data = d->payload;
                f->cap = d->payload_cap;
        } else {
                free(d->payload);
        }
        d->payload = NULL;
        d->payload_len = d->payload_cap = 0;
        d->header_len = 0;
        if (d->tail)
                d->tail->next = f;
        else
                d->head = f;
        d->tail = TAKE_PTR(f);
        return 0;
}

/* Consume bytes from buf for the current frame; returns bytes used or -errno. */
static ssize_t decode_some(struct agent_decoder *d, const uint8_t *buf, size_t len,
                           struct uvm_error **err)
{
        size_t n, want;
        int r;

        if (d->header_len < AGENT_HEADER_SIZE) {
                n = AGENT_HEADER_SIZE - d->header_len;
                n = n < len ? n : len;
                memcpy(d->header + d->header_len, buf, n);
                d->header_len += n;
                if (d->header_len < AGENT_HEADER_SIZE)
                        return (ssize_t) n;
                r = check_header(d, err);
                if (r < 0)
                        return r;
                if (d->size == AGENT_HEADER_SIZE) {
                        r = finish_frame(d, err);
                        if (r < 0)
                                return r;
                }
                return (ssize_t) n;
        }
        want = d->size - AGENT_HEADER_SIZE - d->payload_len;
        n = want < len ? want : len;
        r = payload_reserve(d, n, err);
        if (r < 0)
                return r;
        memcpy(d->payload + d->payload_len, buf, n);
        d->payload_len += n;
        if (n == want) {
                r = finish_frame(d, err);
                if (r < 0)
                        return r;
        }
        return (ssize_t) n;
}

/* Feed buf; with one_frame, stop once a frame completed. */
static int feed(struct agent_decoder *d, const uint8_t *buf, size_t len, bool one_frame,
                size_t *ret_used, struct uvm_error **err)
{
        size_t used = 0;

        *ret_used = 0;
        if (d->error)
                return sticky_error(d, err);
        while (used < len) {
                ssize_t n = decode_some(d, buf + used, len - used, err);

                if (n < 0)
                        return decoder_fail(d, (int) n, err);
                used += (size_t) n;
                *ret_used = used;
                /* Every call takes a byte at least: back at a frame's start,
                 * one was completed. */
                if (one_frame && d->header_len == 0)
                        break;
        }
        return 0;
}

int agent_decoder_feed(struct agent_decoder *d, const void *buf, size_t len, struct uvm_error **err)
{
        size_t used;

        return feed(d, buf, len, false, &used, err);
}

int agent_decoder_feed_some(struct agent_decoder *d, const void *buf, size_t len, size_t *ret_used,
                            struct uvm_error **err)
{
        return feed(d, buf, len, true, ret_used, err);
}

uint8_t *agent_decoder_payload_space(struct agent_decoder *d, size_t *ret_len)
{
        size_t want;

        *ret_len = 0;
        if (d->error || d->header_len < AGENT_HEADER_SIZE ||
            d->type != (AGENT_CLASS_DATA | AGENT_DATA_WRITE))
                return NULL;
        want = d->size - AGENT_HEADER_SIZE - d->payload_len;
        if (want == 0 || payload_reserve(d, want, NULL) < 0)
                return NULL;
        *ret_len = want;
        return d->payload + d->payload_len;
}

int agent_decoder_commit(struct agent_decoder *d, size_t n, struct uvm_error **err)
{
        size_t want;
        int r;

        if (d->error)
                return sticky_error(d, err);
        want = d->header_len == AGENT_HEADER_SIZE ? d->size - AGENT_HEADER_SIZE - d->payload_len
                                                  : 0;
        if (n > want || d->payload_len + n > d->payload_cap)
                return uvm_error_set(err, EINVAL,
                                     "agent decoder: %zu bytes committed, room for %zu", n, want);
        d->payload_len += n;
        if (n > 0 && n == want) {
                r = finish_frame(d, err);
                if (r < 0)
                        return decoder_fail(d, r, err);
        }
        return 0;
}

int agent_decoder_pop(struct agent_decoder *d, struct agent_frame **ret_frame,
                      struct uvm_error **err)
{
        struct agent_frame *f;

        if (d->error)
                return sticky_error(d, err);
        f = d->head;
        if (!f)
                return 0;
        d->head = f->next;
        if (!d->head)
                d->tail = NULL;
        f->next = NULL;
        *ret_frame = f;
        return 1;
}
