/* libFuzzer harness for the user resolver the host and the agent share
 * (agent/user_db.c): the bridge's "User" request (the agent decodes what
 * the host sent) and the image's /etc/passwd and /etc/group text (what an
 * image's author wrote), then the ids answer as the host decodes it.
 *
 * Input: the request's JSON, a NUL, the passwd text, a NUL, the group
 * text (missing parts: no file). */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "agent/user_db.h"

/* The next NUL-terminated part of [*p, end), copied; NULL past the end. */
static char *part(const uint8_t **p, const uint8_t *end)
{
        const uint8_t *nul;
        size_t len;
        char *s;

        if (*p >= end)
                return NULL;
        nul = memchr(*p, 0, (size_t) (end - *p));
        len = nul ? (size_t) (nul - *p) : (size_t) (end - *p);
        s = malloc(len + 1);
        if (!s)
                abort();
        memcpy(s, *p, len);
        s[len] = '\0';
        *p += len + (nul ? 1 : 0);
        return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const uint8_t *p = data, *end = data + size;
        char *req_text = part(&p, end), *passwd = part(&p, end), *group = part(&p, end);
        json_object *o = req_text ? json_tokener_parse(req_text) : NULL, *back;
        struct uvm_error *err = NULL;
        struct user_db_req q;
        struct user_db_ids ids, again;
        unsigned *groups = NULL;

        if (o && user_db_req_from_json(o, &q, &groups, &err) == 0) {
                if (user_db_resolve(&q, passwd, group, &ids, &err) == 0) {
                        if (ids.n_groups == 0 || ids.n_groups > USER_DB_MAX_GROUPS ||
                            ids.groups[0] != ids.gid)
                                abort();
                        back = user_db_ids_to_json(&ids);
                        if (user_db_ids_from_json(back, &again, NULL) != 0 ||
                            memcmp(&again, &ids, sizeof(ids)) != 0)
                                abort();
                        json_object_put(back);
                }
                back = user_db_req_to_json(&q);
                json_object_put(back);
        }
        uvm_error_free(err);
        err = NULL;
        if (o)
                (void) user_db_ids_from_json(o, &ids, &err);
        if (passwd)
                user_db_drop_partial_line(passwd, strlen(passwd));
        uvm_error_free(err);
        free(groups);
        json_object_put(o);
        free(req_text);
        free(passwd);
        free(group);
        return 0;
}
