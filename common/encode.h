#pragma once

/*
 * Text encodings the registry client builds requests with, portable (ISO C
 * only), so the Windows build needs neither libcurl nor OpenSSL for them.
 */

#include <stddef.h>

/* Percent-encode every byte of s but the unreserved ones (RFC 3986:
 * ALPHA DIGIT - . _ ~), as "%3A" (upper-case hex): a form or query value.
 * malloc'd; NULL when out of memory. */
char *enc_url_escape(const char *s);

/* Standard base64 (RFC 4648, '+' '/', '=' padding, no line breaks) of n
 * bytes. malloc'd, NUL-terminated; NULL when out of memory. */
char *enc_base64(const void *data, size_t n);
