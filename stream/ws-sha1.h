#pragma once

/* SHA-1 of a then b, for Sec-WebSocket-Accept (RFC 6455 section 4.2.2):
 * OpenSSL on Linux (ws_sha1_openssl.c), CNG on Windows (ws_sha1_win.c).
 * 0, or -EIO. */

#include <stddef.h>
#include <stdint.h>

#define WS_SHA1_LEN 20

int ws_sha1(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[WS_SHA1_LEN]);
