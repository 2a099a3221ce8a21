/* A container's uid, gid and groups from the CRI request and the image's
 * /etc/passwd and /etc/group text (user_db.h). Lines are split at ':';
 * malformed ones (too few fields, ids that are not decimal in range,
 * names too long) are skipped, as glibc's nss_files skips them. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/user_db.h"
#include "common/macros.h"

#define NAME_MAX_LEN 256

bool user_db_parse_id(const char *s, unsigned *ret)
{
        char *end;
        long long v;

        if (!s || !*s || *s < '0' || *s > '9')
                return false;
        errno = 0;
        v = strtoll(s, &end, 10);
        if (*end || errno || v < 0 || v > USER_DB_ID_MAX)
                return false;
        *ret = (unsigned) v;
        return true;
}

void user_db_drop_partial_line(char *text, size_t len)
{
        char *nl;

        if (len == 0 || text[len - 1] == '\n')
                return;
        nl = strrchr(text, '\n');
        if (nl)
                nl[1] = '\0';
        else
                text[0] = '\0';
}

/* The next line of *p, cut in place; NULL at the end. */
static char *next_line(char **p)
{
        char *l = *p, *nl;

        if (!*l)
                return NULL;
        nl = strchr(l, '\n');
        if (nl) {
                *nl = '\0';
                *p = nl + 1;
        } else {
                *p = l + strlen(l);
        }
        return l;
}

/* The fields of line split at ':' (in place); returns how many. Those
 * beyond it are left alone: the caller's are NULL. */
static size_t split(char *line, char **f, size_t max)
{
        size_t n = 0;

        while (n < max) {
                f[n++] = line;
                line = strchr(line, ':');
                if (!line)
                        break;
                *line++ = '\0';
        }
        return n;
}

struct pw {
        char name[NAME_MAX_LEN];
        unsigned uid, gid;
};

/* An /etc/passwd entry by name (name != NULL) or by uid: the first that
 * matches. */
static int passwd_find(const char *text, const char *name, unsigned uid, struct pw *ret)
{
        _cleanup_free_ char *copy = text ? strdup(text) : NULL;
        char *p = copy, *l;

        if (!copy)
                return text ? -ENOMEM : -ENOENT;
        while ((l = next_line(&p))) {
                char *f[7] = {NULL};
                unsigned u, g;

                if (split(l, f, 7) < 4 || !user_db_parse_id(f[2], &u) ||
                    !user_db_parse_id(f[3], &g) || strlen(f[0]) >= sizeof(ret->name))
                        continue;
                if (name ? STR_EQ(f[0], name) : u == uid) {
                        snprintf(ret->name, sizeof(ret->name), "%s", f[0]);
                        ret->uid = u;
                        ret->gid = g;
                        return 0;
                }
        }
        return -ENOENT;
}

static void add_group(struct user_db_ids *u, unsigned gid)
{
        for (size_t i = 0; i < u->n_groups; i++)
                if (u->groups[i] == gid)
                        return;
        if (u->n_groups < USER_DB_MAX_GROUPS)
                u->groups[u->n_groups++] = gid;
}

/* Whether user is in the comma-separated members. */
static bool member_of(const char *members, const char *user)
{
        size_t n = strlen(user);

        for (const char *m = members; m;) {
                const char *comma = strchr(m, ',');
                size_t len = comma ? (size_t) (comma - m) : strlen(m);

                if (len == n && n > 0 && strncmp(m, user, n) == 0)
                        return true;
                m = comma ? comma + 1 : NULL;
        }
        return false;
}

/* A group's gid by name (name != NULL; the first entry wins), and/or the
 * groups user belongs to (user != NULL, added to u). */
static int group_scan(const char *text, const char *name, unsigned *ret_gid, const char *user,
                      struct user_db_ids *u)
{
        _cleanup_free_ char *copy = text ? strdup(text) : NULL;
        char *p = copy, *l;
        int r = -ENOENT;

        if (!copy)
                return text ? -ENOMEM : -ENOENT;
        while ((l = next_line(&p))) {
                char *f[4] = {NULL};
                unsigned g;

                if (split(l, f, 4) < 3 || !user_db_parse_id(f[2], &g))
                        continue;
                if (name && r < 0 && STR_EQ(f[0], name)) {
                        *ret_gid = g;
                        r = 0;
                }
                if (user && f[3] && member_of(f[3], user))
                        add_group(u, g);
        }
        return r;
}

/* " (image \"REF\")" when the request names its image, else "". */
static void image_note(const struct user_db_req *req, char *buf, size_t len)
{
        if (STR_EMPTY(req->image))
                buf[0] = '\0';
        else
                snprintf(buf, len, " (image \"%.200s\")", req->image);
}

static int not_found(const struct user_db_req *req, const char *what, const char *value,
                     const char *file, struct uvm_error **err)
{
        char note[256];

        image_note(req, note, sizeof(note));
        return uvm_error_set(err, EINVAL, "%s \"%.64s\": not in the image's /etc/%s%s", what, value,
                             file, note);
}

/* The image's USER: "name", "uid", "name:group", "uid:gid", "uid:group". */
static int image_user(const struct user_db_req *req, const char *passwd, const char *group,
                      struct user_db_ids *u, char *name, size_t name_len, struct uvm_error **err)
{
        _cleanup_free_ char *s = strdup(req->image_user);
        char *grp = NULL;
        struct pw pw;

        if (!s)
                return uvm_error_set(err, ENOMEM, "out of memory");
        if ((grp = strchr(s, ':')))
                *grp++ = '\0';
        if (user_db_parse_id(s, &u->uid)) {
                if (passwd_find(passwd, NULL, u->uid, &pw) == 0) {
                        u->gid = pw.gid;
                        snprintf(name, name_len, "%s", pw.name);
                }
        } else if (*s && passwd_find(passwd, s, 0, &pw) == 0) {
                u->uid = pw.uid;
                u->gid = pw.gid;
                snprintf(name, name_len, "%s", pw.name);
        } else
                return not_found(req, "image user", s, "passwd", err);
        if (grp && *grp && !user_db_parse_id(grp, &u->gid) &&
            group_scan(group, grp, &u->gid, NULL, NULL) < 0)
                return not_found(req, "image group", grp, "group", err);
        return 0;
}

/* uid and gid from the request (run_as_user / run_as_username) or the image. */
static int primary_ids(const struct user_db_req *req, const char *passwd, const char *group,
                       struct user_db_ids *u, char *name, size_t name_len, struct uvm_error **err)
{
        struct pw pw;

        if (req->has_uid) {
                u->uid = req->uid;
                /* The image's entry for that uid, if any, gives gid and name. */
                if (passwd_find(passwd, NULL, u->uid, &pw) == 0) {
                        u->gid = pw.gid;
                        snprintf(name, name_len, "%s", pw.name);
                }
                return 0;
        }
        if (!STR_EMPTY(req->username)) {
                if (passwd_find(passwd, req->username, 0, &pw) < 0)
                        return not_found(req, "run_as_username", req->username, "passwd", err);
                u->uid = pw.uid;
                u->gid = pw.gid;
                snprintf(name, name_len, "%s", pw.name);
                return 0;
        }
        return STR_EMPTY(req->image_user) ? 0
                                          : image_user(req, passwd, group, u, name, name_len, err);
}

bool user_db_req_needs_files(const struct user_db_req *req)
{
        return req->has_uid || !STR_EMPTY(req->username) || !STR_EMPTY(req->image_user);
}

int user_db_resolve(const struct user_db_req *req, const char *passwd, const char *group,
                    struct user_db_ids *ret, struct uvm_error **err)
{
        struct user_db_ids u = {0};
        char name[NAME_MAX_LEN] = "";
        int r;

        if (req->n_supplemental > USER_DB_MAX_GROUPS - 1)
                return uvm_error_set(err, EINVAL, "more than %d supplemental_groups",
                                     USER_DB_MAX_GROUPS - 1);
        r = primary_ids(req, passwd, group, &u, name, sizeof(name), err);
        if (r < 0)
                return r;
        if (req->has_gid)
                u.gid = req->gid;
        add_group(&u, u.gid);
        /* Merge (the default) adds the image's memberships; Strict does not. */
        if (*name && !req->strict)
                (void) group_scan(group, NULL, NULL, name, &u);
        for (size_t i = 0; i < req->n_supplemental; i++)
                add_group(&u, req->supplemental[i]);
        *ret = u;
        return 0;
}

/* --- the bridge's form --- */

static json_object *ids_json(const unsigned *v, size_t n)
{
        json_object *a = json_object_new_array();

        for (size_t i = 0; a && i < n; i++)
                json_object_array_add(a, json_object_new_int64(v[i]));
        return a;
}

json_object *user_db_req_to_json(const struct user_db_req *req)
{
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "ImageUser", json_object_new_string(req->image_user ?: ""));
        json_object_object_add(o, "Username", json_object_new_string(req->username ?: ""));
        if (req->has_uid)
                json_object_object_add(o, "Uid", json_object_new_int64(req->uid));
        if (req->has_gid)
                json_object_object_add(o, "Gid", json_object_new_int64(req->gid));
        json_object_object_add(o, "Strict", json_object_new_boolean(req->strict));
        json_object_object_add(o, "Groups", ids_json(req->supplemental, req->n_supplemental));
        json_object_object_add(o, "Image", json_object_new_string(req->image ?: ""));
        return o;
}

/* A JSON id: 0 to USER_DB_ID_MAX; code is the errno of a bad one. */
static int id_value(json_object *v, int code, const char *what, const char *key, unsigned *ret,
                    struct uvm_error **err)
{
        int64_t x = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;

        if (x < 0 || x > USER_DB_ID_MAX)
                return uvm_error_set(err, code, "%s.%s: not an id (0 to %lld)", what, key,
                                     USER_DB_ID_MAX);
        *ret = (unsigned) x;
        return 0;
}

/* An optional id field: *has says whether it was there. */
static int id_field(json_object *o, int code, const char *what, const char *key, bool *has,
                    unsigned *ret, struct uvm_error **err)
{
        json_object *v;

        *has = json_object_object_get_ex(o, key, &v);
        return *has ? id_value(v, code, what, key, ret, err) : 0;
}

static int str_field(json_object *o, const char *what, const char *key, const char **ret,
                     struct uvm_error **err)
{
        json_object *v;

        *ret = NULL;
        if (!json_object_object_get_ex(o, key, &v))
                return 0;
        if (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v) > 4096)
                return uvm_error_set(err, EINVAL, "%s.%s: not a string of at most 4096 bytes", what,
                                     key);
        *ret = json_object_get_string(v);
        return 0;
}

/* "Groups": at most max ids, into a new array (NULL when absent). */
static int groups_field(json_object *o, int code, const char *what, size_t max, unsigned **ret,
                        size_t *ret_n, struct uvm_error **err)
{
        _cleanup_free_ unsigned *v = NULL;
        json_object *a;
        size_t n;
        int r;

        *ret = NULL;
        *ret_n = 0;
        if (!json_object_object_get_ex(o, "Groups", &a))
                return 0;
        if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) > max)
                return uvm_error_set(err, code, "%s.Groups: not a list of at most %zu ids", what,
                                     max);
        n = json_object_array_length(a);
        v = calloc(n + 1, sizeof(*v));
        if (!v)
                return uvm_error_set(err, ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++)
                if ((r = id_value(json_object_array_get_idx(a, i), code, what, "Groups", &v[i],
                                  err)) < 0)
                        return r;
        *ret = TAKE_PTR(v);
        *ret_n = n;
        return 0;
}

int user_db_req_from_json(json_object *o, struct user_db_req *ret, unsigned **ret_groups_buf,
                          struct uvm_error **err)
{
        struct user_db_req q = {0};
        unsigned *groups = NULL;
        json_object *strict;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return uvm_error_set(err, EINVAL, "User: not an object");
        if ((r = str_field(o, "User", "ImageUser", &q.image_user, err)) < 0 ||
            (r = str_field(o, "User", "Username", &q.username, err)) < 0 ||
            (r = str_field(o, "User", "Image", &q.image, err)) < 0 ||
            (r = id_field(o, EINVAL, "User", "Uid", &q.has_uid, &q.uid, err)) < 0 ||
            (r = id_field(o, EINVAL, "User", "Gid", &q.has_gid, &q.gid, err)) < 0)
                return r;
        if (json_object_object_get_ex(o, "Strict", &strict)) {
                if (!json_object_is_type(strict, json_type_boolean))
                        return uvm_error_set(err, EINVAL, "User.Strict: not a boolean");
                q.strict = json_object_get_boolean(strict);
        }
        r = groups_field(o, EINVAL, "User", USER_DB_MAX_GROUPS - 1, &groups, &q.n_supplemental,
                         err);
        if (r < 0)
                return r;
        q.supplemental = groups;
        *ret = q;
        *ret_groups_buf = groups;
        return 0;
}

json_object *user_db_ids_to_json(const struct user_db_ids *ids)
{
        json_object *o = json_object_new_object();

        if (!o)
                return NULL;
        json_object_object_add(o, "Uid", json_object_new_int64(ids->uid));
        json_object_object_add(o, "Gid", json_object_new_int64(ids->gid));
        json_object_object_add(o, "Groups", ids_json(ids->groups, ids->n_groups));
        return o;
}

int user_db_ids_from_json(json_object *o, struct user_db_ids *ret, struct uvm_error **err)
{
        struct user_db_ids ids = {0};
        _cleanup_free_ unsigned *groups = NULL;
        bool has_uid, has_gid;
        int r;

        if (!json_object_is_type(o, json_type_object))
                return uvm_error_set(err, EBADMSG, "User: not an object");
        if ((r = id_field(o, EBADMSG, "User", "Uid", &has_uid, &ids.uid, err)) < 0 ||
            (r = id_field(o, EBADMSG, "User", "Gid", &has_gid, &ids.gid, err)) < 0 ||
            (r = groups_field(o, EBADMSG, "User", USER_DB_MAX_GROUPS, &groups, &ids.n_groups,
                              err)) < 0)
                return r;
        if (!has_uid || !has_gid)
                return uvm_error_set(err, EBADMSG, "User: Uid and Gid are required");
        for (size_t i = 0; i < ids.n_groups; i++)
                ids.groups[i] = groups[i];
        *ret = ids;
        return 0;
}
