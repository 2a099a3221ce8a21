#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "sandbox/drivers/hcs/documents-internal.h"
#include "sandbox/drivers/hcs/documents.h"

/* Length of the UTF-8 sequence starting at s, or 0 if it is not one
 * (overlong forms, surrogates and values past U+10FFFF included). */
static size_t utf8_seq_len(const unsigned char *s)
{
        unsigned cp, n, i;

        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, cp = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3, cp = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, cp = s[0] & 0x07;
        else
                return 0;
        for (i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return n;
}

/* s: non-NULL (and non-empty unless allow_empty), at most max bytes, valid
 * UTF-8 without control characters. */
int hcs_check_text(const char *what, const char *s, size_t max, bool allow_empty,
                   struct uvm_error **err)
{
        size_t len, i, n;

        if (!s || (!allow_empty && !*s))
                return uvm_error_set(err, EINVAL, "%s is empty", what);
        len = strnlen(s, max + 1);
        if (len > max)
                return uvm_error_set(err, EINVAL, "%s is longer than %zu bytes", what, max);
        for (i = 0; i < len; i += n) {
                const unsigned char c = (unsigned char) s[i];

                if (c < 0x20 || c == 0x7f)
                        return uvm_error_set(err, EINVAL,
                                             "%s has a control character (0x%02x) at byte %zu",
                                             what, c, i);
                n = utf8_seq_len((const unsigned char *) s + i);
                if (n == 0 || i + n > len)
                        return uvm_error_set(err, EINVAL, "%s is not valid UTF-8 (byte %zu)", what,
                                             i);
        }
        return 0;
}

/* An absolute host path: "C:\..." (or "C:/...") or a UNC / device path
 * "\\...". HCS resolves nothing relative to uvmd's directory. */
int hcs_check_host_path(const char *what, const char *s, struct uvm_error **err)
{
        int r = hcs_check_text(what, s, HCS_PATH_MAX, false, err);
        bool drive, unc;

        if (r < 0)
                return r;
        drive = ((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z')) && s[1] == ':' &&
                (s[2] == '\\' || s[2] == '/');
        unc = s[0] == '\\' && s[1] == '\\' && s[2] != '\0';
        if (!drive && !unc)
                return uvm_error_set(err, EINVAL, "%s \"%s\" is not an absolute Windows path", what,
                                     s);
        return 0;
}

int hcs_check_guest_path(const char *what, const char *s, struct uvm_error **err)
{
        int r = hcs_check_text(what, s, HCS_PATH_MAX, false, err);

        if (r < 0)
                return r;
        if (s[0] != '/')
                return uvm_error_set(err, EINVAL, "%s \"%s\" is not an absolute guest path", what,
                                     s);
        return 0;
}

static bool is_hex(char c)
{
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool hcs_guid_is_valid(const char *s)
{
        size_t i;

        if (!s)
                return false;
        for (i = 0; i < HCS_GUID_LEN; i++) {
                bool dash = i == 8 || i == 13 || i == 18 || i == 23;

                if (dash ? s[i] != '-' : !is_hex(s[i]))
                        return false;
        }
        return s[HCS_GUID_LEN] == '\0';
}

int hcs_check_guid(const char *what, const char *s, struct uvm_error **err)
{
        int r = hcs_check_text(what, s, HCS_ID_MAX, false, err);

        if (r < 0)
                return r;
        if (!hcs_guid_is_valid(s))
                return uvm_error_set(err, EINVAL,
                                     "%s \"%s\" is not a GUID "
                                     "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx, no braces)",
                                     what, s);
        return 0;
}

bool hcs_guid_equal(const char *a, const char *b)
{
        for (size_t i = 0; i < HCS_GUID_LEN; i++) {
                char x = a[i], y = b[i];

                if (x >= 'A' && x <= 'Z')
                        x += 'a' - 'A';
                if (y >= 'A' && y <= 'Z')
                        y += 'a' - 'A';
                if (x != y)
                        return false;
        }
        return true;
}

/* Six hex pairs separated by one of '-' or ':' throughout; written to out
 * as HCS shows MACs, "00-15-5D-0A-0B-0C". */
int hcs_mac_normalize(const char *what, const char *s, char out[18], struct uvm_error **err)
{
        int r = hcs_check_text(what, s, 17, false, err);
        char sep;

        if (r < 0)
                return r;
        sep = s[2];
        if (strlen(s) != 17 || (sep != '-' && sep != ':'))
                goto bad;
        for (size_t i = 0; i < 17; i++) {
                if (i % 3 == 2 ? s[i] != sep : !is_hex(s[i]))
                        goto bad;
                out[i] = i % 3 == 2 ? '-' : (s[i] >= 'a' && s[i] <= 'f' ? s[i] - 32 : s[i]);
        }
        out[17] = '\0';
        return 0;
bad:
        return uvm_error_set(err, EINVAL, "%s \"%s\" is not a MAC address (00-15-5D-01-02-03)",
                             what, s);
}

int hcs_check_share_name(const char *what, const char *s, struct uvm_error **err)
{
        int r = hcs_check_text(what, s, HCS_SHARE_NAME_MAX, false, err);

        if (r < 0)
                return r;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
                        return uvm_error_set(err, EINVAL,
                                             "%s \"%s\" may only hold letters, digits, '.', "
                                             "'_' and '-'",
                                             what, s);
        return 0;
}

int hcs_check_file_name(const char *what, const char *s, struct uvm_error **err)
{
        int r = hcs_check_text(what, s, HCS_FILE_NAME_MAX, false, err);

        if (r < 0)
                return r;
        if (strpbrk(s, "\\/:") || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
                return uvm_error_set(err, EINVAL,
                                     "%s \"%s\" is not one name (no '\\', '/' or ':', not "
                                     "'.' or '..')",
                                     what, s);
        return 0;
}

void hcs_vsock_service_id(uint32_t port, char ret_id[HCS_GUID_LEN + 1])
{
        snprintf(ret_id, HCS_GUID_LEN + 1, "%08" PRIx32 "-facb-11e6-bd58-64006a7986d3", port);
}
