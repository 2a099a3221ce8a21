/* SPDY/3 header blocks: the zlib dictionary, inflate and deflate of the
 * session's two persistent streams, and the name/value block format
 *
 *     u32 pairs, then per pair: u32 name length, name, u32 value length, value
 */

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "common/error.h"
#include "stream/spdy-internal.h"

/* The SPDY/3 dictionary (spec section 2.6.10.1): these words, each after its
 * 4-byte big-endian length, then the tail as is. 1423 bytes, adler32 0xe3c6a7c2. */
static const char *const dict_words[] = {
        "options",
        "head",
        "post",
        "put",
        "delete",
        "trace",
        "accept",
        "accept-charset",
        "accept-encoding",
        "accept-language",
        "accept-ranges",
        "age",
        "allow",
        "authorization",
        "cache-control",
        "connection",
        "content-base",
        "content-encoding",
        "content-language",
        "content-length",
        "content-location",
        "content-md5",
        "content-range",
        "content-type",
        "date",
        "etag",
        "expect",
        "expires",
        "from",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "last-modified",
        "location",
        "max-forwards",
        "pragma",
        "proxy-authenticate",
        "proxy-authorization",
        "range",
        "referer",
        "retry-after",
        "server",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "vary",
        "via",
        "warning",
        "www-authenticate",
        "method",
        "get",
        "status",
        "200 OK",
        "version",
        "HTTP/1.1",
        "url",
        "public",
        "set-cookie",
        "keep-alive",
        "origin",
};

static const char dict_tail[] =
        "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504"
        "505203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad "
        "Request401 Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not "
        "Implemented503 Service UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec "
        "00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMTchunked,text/html,image/png,image/"
        "jpg,image/gif,application/xml,application/xhtml+xml,text/plain,text/javascript,"
        "publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.";

#define DICT_SIZE 1423

static void dict_build(uint8_t out[DICT_SIZE])
{
        size_t off = 0;

        for (size_t i = 0; i < ARRAY_SIZE(dict_words); i++) {
                size_t n = strlen(dict_words[i]);

                spdy_put32(out + off, (uint32_t) n);
                memcpy(out + off + 4, dict_words[i], n);
                off += 4 + n;
        }
        memcpy(out + off, dict_tail, sizeof(dict_tail) - 1);
}

static int zin_start(struct spdy_session *s, struct uvm_error **err)
{
        if (s->zin_ready)
                return 0;
        if (!s->inflated)
                s->inflated = malloc(s->lim.max_header_bytes + 1);
        if (!s->strings)
                s->strings = malloc(s->lim.max_header_bytes);
        if (!s->headers)
                s->headers = calloc(s->lim.max_headers, sizeof(*s->headers));
        if (!s->sorted)
                s->sorted = calloc(s->lim.max_headers, sizeof(*s->sorted));
        if (!s->inflated || !s->strings || !s->headers || !s->sorted)
                return uvm_error_set(err, ENOMEM, "spdy: out of memory");
        memset(&s->zin, 0, sizeof(s->zin));
        if (inflateInit(&s->zin) != Z_OK)
                return uvm_error_set(err, ENOMEM, "spdy: cannot start inflate");
        s->zin_ready = true;
        return 0;
}

/* The dictionary is asked for by the first block only, and zlib checks its
 * adler32 against the one the peer put in the stream header. */
static int zin_set_dict(struct spdy_session *s, struct uvm_error **err)
{
        uint8_t dict[DICT_SIZE];

        dict_build(dict);
        if (inflateSetDictionary(&s->zin, dict, sizeof(dict)) != Z_OK)
                return uvm_error_set(err, EPROTO,
                                     "spdy: header block wants a dictionary other than SPDY/3's");
        return 0;
}

int spdy_block_inflate(struct spdy_session *s, const uint8_t *in, size_t len, size_t *ret_len,
                       struct uvm_error **err)
{
        size_t cap = s->lim.max_header_bytes + 1;
        int r;

        r = zin_start(s, err);
        if (r < 0)
                return r;
        s->zin.next_in = (Bytef *) in;
        s->zin.avail_in = (uInt) len;
        s->zin.next_out = s->inflated;
        s->zin.avail_out = (uInt) cap;
        for (;;) {
                int z = inflate(&s->zin, Z_SYNC_FLUSH);

                if (z == Z_NEED_DICT) {
                        r = zin_set_dict(s, err);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (z == Z_MEM_ERROR)
                        return uvm_error_set(err, ENOMEM, "spdy: out of memory inflating headers");
                if (z == Z_STREAM_END)
                        return uvm_error_set(err, EPROTO, "spdy: peer ended its header stream");
                if (z != Z_OK && z != Z_BUF_ERROR)
                        return uvm_error_set(err, EPROTO, "spdy: header block does not inflate: %s",
                                             s->zin.msg ? s->zin.msg : "zlib error");
                if (s->zin.avail_out == 0)
                        return uvm_error_set(err, EPROTO,
                                             "spdy: header block inflates past %zu bytes",
                                             s->lim.max_header_bytes);
                /* Output space left and no progress: all input is taken. */
                if (s->zin.avail_in == 0 || z == Z_BUF_ERROR)
                        break;
        }
        if (s->zin.avail_in != 0)
                return uvm_error_set(err, EPROTO, "spdy: header block does not inflate");
        *ret_len = cap - s->zin.avail_out;
        return 0;
}

/* A name is lowercase printable US-ASCII, non-empty (SPDY/3 section 2.6.10). */
static bool name_ok(const uint8_t *p, size_t n)
{
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++)
                if (p[i] <= 0x20 || p[i] >= 0x7f || (p[i] >= 'A' && p[i] <= 'Z'))
                        return false;
        return true;
}

/* A value is empty or NUL-separated non-empty values. */
static bool value_ok(const uint8_t *p, size_t n)
{
        if (n == 0)
                return true;
        if (p[0] == 0 || p[n - 1] == 0)
                return false;
        for (size_t i = 1; i < n; i++)
                if (p[i] == 0 && p[i - 1] == 0)
                        return false;
        return true;
}

static int cmp_names(const void *a, const void *b)
{
        return strcmp(*(const char *const *) a, *(const char *const *) b);
}

/* True if two of the n names (pointers in scratch, sorted in place) are equal. */
static bool has_duplicate(const char **scratch, size_t n)
{
        if (n < 2)
                return false; /* also: qsort must not see the NULL of an empty list */
        qsort(scratch, n, sizeof(*scratch), cmp_names);
        for (size_t i = 1; i < n; i++)
                if (strcmp(scratch[i - 1], scratch[i]) == 0)
                        return true;
        return false;
}

/* Read a u32 length at *off and check that many bytes follow within len. */
static bool take_len(const uint8_t *p, size_t len, size_t *off, size_t *ret)
{
        size_t n;

        if (len - *off < 4)
                return false;
        n = spdy_get32(p + *off);
        *off += 4;
        if (n > len - *off)
                return false;
        *ret = n;
        return true;
}

static int bad_block(struct uvm_error **err, const char *what, size_t i)
{
        return uvm_error_set(err, EBADMSG, "spdy: header block: %s (pair %zu)", what, i);
}

int spdy_block_parse(struct spdy_session *s, size_t len, size_t *ret_n, struct uvm_error **err)
{
        const uint8_t *p = s->inflated;
        size_t off = 4, n, used = 0;

        if (len < 4)
                return uvm_error_set(err, EBADMSG, "spdy: header block shorter than its count");
        n = spdy_get32(p);
        if (n > s->lim.max_headers)
                return uvm_error_set(err, EBADMSG, "spdy: header block: %zu pairs, more than %zu",
                                     n, s->lim.max_headers);
        for (size_t i = 0; i < n; i++) {
                size_t nl, vl, name_off;
                char *name;

                if (!take_len(p, len, &off, &nl))
                        return bad_block(err, "name length past the block", i);
                name_off = off;
                off += nl;
                if (!take_len(p, len, &off, &vl))
                        return bad_block(err, "value length past the block", i);
                if (!name_ok(p + name_off, nl))
                        return bad_block(err, "empty or not lowercase US-ASCII name", i);
                if (!value_ok(p + off, vl))
                        return bad_block(err, "value with an empty NUL-separated part", i);
                /* Each pair has 8 bytes of lengths and takes 2 terminators:
                 * the copies never outgrow the inflated block. */
                name = s->strings + used;
                memcpy(name, p + name_off, nl);
                name[nl] = '\0';
                memcpy(name + nl + 1, p + off, vl);
                name[nl + 1 + vl] = '\0';
                s->headers[i] = (struct spdy_header){name, name + nl + 1, vl};
                s->sorted[i] = name;
                used += nl + vl + 2;
                off += vl;
        }
        if (off != len)
                return uvm_error_set(err, EBADMSG, "spdy: header block: %zu bytes after %zu pairs",
                                     len - off, n);
        if (has_duplicate(s->sorted, n))
                return uvm_error_set(err, EBADMSG, "spdy: header block: duplicate name");
        *ret_n = n;
        return 0;
}

/* Check what we are about to send as the peer's decoder (and ours) would, and
 * return the plain block's size. */
static int check_pairs(const struct spdy_session *s, const struct spdy_header *h, size_t n,
                       size_t *ret_size, struct uvm_error **err)
{
        _cleanup_free_ const char **scratch = NULL;
        size_t size = 4;

        if (n > s->lim.max_headers)
                return uvm_error_set(err, EINVAL, "spdy: %zu header pairs, more than %zu", n,
                                     s->lim.max_headers);
        if (n > 0 && !(scratch = calloc(n, sizeof(*scratch))))
                return uvm_error_set(err, ENOMEM, "spdy: out of memory");
        for (size_t i = 0; i < n; i++) {
                size_t nl = h[i].name ? strnlen(h[i].name, s->lim.max_header_bytes + 1) : 0;

                if (nl > s->lim.max_header_bytes || !name_ok((const uint8_t *) h[i].name, nl))
                        return uvm_error_set(err, EINVAL, "spdy: bad header name \"%s\"",
                                             h[i].name ? h[i].name : "");
                if ((!h[i].value && h[i].value_len) ||
                    !value_ok((const uint8_t *) h[i].value, h[i].value_len))
                        return uvm_error_set(err, EINVAL, "spdy: bad value of header \"%s\"",
                                             h[i].name);
                if (h[i].value_len > s->lim.max_header_bytes)
                        return uvm_error_set(err, EINVAL, "spdy: header \"%s\" too long",
                                             h[i].name);
                size += 8 + nl + h[i].value_len;
                if (size > s->lim.max_header_bytes)
                        return uvm_error_set(err, EINVAL, "spdy: header block over %zu bytes",
                                             s->lim.max_header_bytes);
                scratch[i] = h[i].name;
        }
        if (has_duplicate(scratch, n))
                return uvm_error_set(err, EINVAL, "spdy: duplicate header name");
        *ret_size = size;
        return 0;
}

static uint8_t *plain_block(const struct spdy_header *h, size_t n, size_t size)
{
        uint8_t *plain = malloc(size), *p = plain;

        if (!plain)
                return NULL;
        spdy_put32(p, (uint32_t) n);
        p += 4;
        for (size_t i = 0; i < n; i++) {
                size_t nl = strlen(h[i].name);

                spdy_put32(p, (uint32_t) nl);
                memcpy(p + 4, h[i].name, nl);
                p += 4 + nl;
                spdy_put32(p, (uint32_t) h[i].value_len);
                if (h[i].value_len)
                        memcpy(p + 4, h[i].value, h[i].value_len);
                p += 4 + h[i].value_len;
        }
        return plain;
}

static int zout_start(struct spdy_session *s, struct uvm_error **err)
{
        uint8_t dict[DICT_SIZE];

        if (s->zout_ready)
                return 0;
        memset(&s->zout, 0, sizeof(s->zout));
        if (deflateInit(&s->zout, Z_DEFAULT_COMPRESSION) != Z_OK)
                return uvm_error_set(err, ENOMEM, "spdy: cannot start deflate");
        s->zout_ready = true;
        dict_build(dict);
        if (deflateSetDictionary(&s->zout, dict, sizeof(dict)) != Z_OK) {
                s->zout_broken = true;
                return uvm_error_set(err, ENOMEM, "spdy: cannot set the deflate dictionary");
        }
        return 0;
}

/* Deflate plain into out with a sync flush, growing out as needed. A failure
 * here leaves the stream ahead of the peer's inflater for good. */
static int deflate_into(struct spdy_session *s, uint8_t *plain, size_t size, struct spdy_buf *out,
                        struct uvm_error **err)
{
        size_t start = out->len, room = deflateBound(&s->zout, size) + 16;

        s->zout.next_in = plain;
        s->zout.avail_in = (uInt) size;
        for (;;) {
                int z;

                if (spdy_buf_reserve(out, room) < 0)
                        goto broken;
                s->zout.next_out = out->data + out->len;
                s->zout.avail_out = (uInt) room;
                z = deflate(&s->zout, Z_SYNC_FLUSH);
                if (z != Z_OK && z != Z_BUF_ERROR)
                        goto broken;
                out->len += room - s->zout.avail_out;
                if (s->zout.avail_out > 0 && s->zout.avail_in == 0)
                        return 0;
        }
broken:
        s->zout_broken = true;
        out->len = start;
        return uvm_error_set(err, ENOMEM, "spdy: header compression failed");
}

int spdy_block_deflate(struct spdy_session *s, const struct spdy_header *headers, size_t n,
                       struct spdy_buf *out, struct uvm_error **err)
{
        _cleanup_free_ uint8_t *plain = NULL;
        size_t size = 0;
        int r;

        if (s->zout_broken)
                return uvm_error_set(err, ENOMEM, "spdy: header compression broken earlier");
        r = check_pairs(s, headers, n, &size, err);
        if (r < 0)
                return r;
        plain = plain_block(headers, n, size);
        if (!plain)
                return uvm_error_set(err, ENOMEM, "spdy: out of memory");
        r = zout_start(s, err);
        if (r < 0)
                return r;
        return deflate_into(s, plain, size, out, err);
}
