/* The user resolver the host and the agent share (agent/user_db.h): the
 * CRI's rules over /etc/passwd and /etc/group text, malformed and long
 * lines, a cut file, and the bridge's JSON both ways. */

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "agent/user_db.h"

static const char *const PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
                                  "\n"
                                  "no fields at all\n"
                                  "short:x:7\n"
                                  "neg:x:-1:5::/:/bin/sh\n"
                                  "plus:x:+8:5::/:/bin/sh\n"
                                  "hex:x:0x10:5::/:/bin/sh\n"
                                  "big:x:4294967295:5::/:/bin/sh\n"
                                  "badgid:x:9:g::/:/bin/sh\n"
                                  "app:x:1000:1000::/home/app:/bin/sh\n"
                                  "app:x:2000:2000:second entry, ignored:/:/bin/sh\n"
                                  "web:x:33:33::/var/www:/bin/false\n"
                                  "bare:x:44:44"; /* no newline at the end: still a line */

static const char *const GROUP = "root:x:0:root\n"
                                 "wheel:x:10:root,app\n"
                                 "broken:x\n"
                                 "nomembers:x:70\n" /* three fields: no member list */
                                 "badid:x:nope:app\n"
                                 "staff:x:50:web\n"
                                 "audio:x:63:web,,app,\n"
                                 "app:x:1000:\n"
                                 "apps:x:1001:application\n"
                                 "staff:x:51:second entry\n";

static struct user_db_ids ids;
static struct uvm_error *err;

static int resolve(const struct user_db_req *q)
{
        uvm_error_free(err);
        err = NULL;
        memset(&ids, 0xaa, sizeof(ids));
        return user_db_resolve(q, PASSWD, GROUP, &ids, &err);
}

static void assert_ids(unsigned uid, unsigned gid, const unsigned *groups, size_t n)
{
        assert_int_equal(ids.uid, uid);
        assert_int_equal(ids.gid, gid);
        assert_int_equal(ids.n_groups, n);
        for (size_t i = 0; i < n; i++)
                assert_int_equal(ids.groups[i], groups[i]);
}

static void assert_refused(const struct user_db_req *q, const char *needle)
{
        assert_int_equal(resolve(q), -EINVAL);
        assert_non_null(err);
        if (!strstr(err->msg, needle))
                fail_msg("\"%s\" lacks \"%s\"", err->msg, needle);
}

static void names_and_ids(void **state)
{
        assert_int_equal(resolve(&(struct user_db_req){.image_user = "app"}), 0);
        assert_ids(1000, 1000, (unsigned[]){1000, 10, 63}, 3); /* the first entry wins */
        assert_int_equal(resolve(&(struct user_db_req){.username = "web"}), 0);
        assert_ids(33, 33, (unsigned[]){33, 50, 63}, 3);
        /* A numeric user takes gid and memberships from its entry... */
        assert_int_equal(resolve(&(struct user_db_req){.has_uid = true, .uid = 1000}), 0);
        assert_ids(1000, 1000, (unsigned[]){1000, 10, 63}, 3);
        /* ...and runs without one. */
        assert_int_equal(resolve(&(struct user_db_req){.has_uid = true, .uid = 4242}), 0);
        assert_ids(4242, 0, (unsigned[]){0}, 1);
        assert_int_equal(resolve(&(struct user_db_req){.image_user = "4242:7"}), 0);
        assert_ids(4242, 7, (unsigned[]){7}, 1);
        /* name:group, and the first of two groups of a name */
        assert_int_equal(resolve(&(struct user_db_req){.image_user = "app:staff"}), 0);
        assert_ids(1000, 50, (unsigned[]){50, 10, 63}, 3);
        /* run_as_user wins over a username, and both over the image's */
        assert_int_equal(
                resolve(&(struct user_db_req){
                        .image_user = "web", .has_uid = true, .uid = 0, .username = "app"}),
                0);
        assert_ids(0, 0, (unsigned[]){0, 10}, 2);
        assert_int_equal(resolve(&(struct user_db_req){.image_user = "web", .username = "app"}), 0);
        assert_int_equal(ids.uid, 1000);
        /* A line without its newline at the end counts. */
        assert_int_equal(resolve(&(struct user_db_req){.username = "bare"}), 0);
        assert_ids(44, 44, (unsigned[]){44}, 1);
        /* No user at all: root, no lookup of "root"'s memberships. */
        assert_int_equal(resolve(&(struct user_db_req){0}), 0);
        assert_ids(0, 0, (unsigned[]){0}, 1);
        assert_false(user_db_req_needs_files(&(struct user_db_req){.image_user = ""}));
        assert_true(user_db_req_needs_files(&(struct user_db_req){.has_uid = true}));
}

static void groups_and_policy(void **state)
{
        const unsigned extra[] = {7, 50, 7};

        assert_int_equal(resolve(&(struct user_db_req){.username = "web",
                                                       .has_gid = true,
                                                       .gid = 50,
                                                       .supplemental = extra,
                                                       .n_supplemental = 3}),
                         0);
        assert_ids(33, 50, (unsigned[]){50, 63, 7}, 3); /* no repeats */
        assert_int_equal(resolve(&(struct user_db_req){.username = "web",
                                                       .strict = true,
                                                       .supplemental = extra,
                                                       .n_supplemental = 1}),
                         0);
        assert_ids(33, 33, (unsigned[]){33, 7}, 2);
        /* "application" is not "app"; empty members match nobody */
        assert_int_equal(resolve(&(struct user_db_req){.username = "app"}), 0);
        for (size_t i = 0; i < ids.n_groups; i++)
                assert_int_not_equal(ids.groups[i], 1001);
        assert_int_equal(resolve(&(struct user_db_req){.n_supplemental = USER_DB_MAX_GROUPS}),
                         -EINVAL);
}

static void malformed_lines_skipped(void **state)
{
        assert_refused(&(struct user_db_req){.username = "short"},
                       "not in the image's /etc/passwd");
        assert_refused(&(struct user_db_req){.username = "neg"}, "/etc/passwd");
        assert_refused(&(struct user_db_req){.username = "plus"}, "/etc/passwd");
        assert_refused(&(struct user_db_req){.username = "hex"}, "/etc/passwd");
        assert_refused(&(struct user_db_req){.username = "big"}, "/etc/passwd"); /* (uid_t) -1 */
        assert_refused(&(struct user_db_req){.username = "badgid"}, "/etc/passwd");
        assert_refused(&(struct user_db_req){.username = "no fields at all"}, "/etc/passwd");
        assert_refused(&(struct user_db_req){.image_user = "app:broken"}, "/etc/group");
        assert_refused(&(struct user_db_req){.image_user = "app:badid"}, "/etc/group");
        /* the messages name the user and the image */
        assert_refused(&(struct user_db_req){.username = "ghost", .image = "docker.io/x:1"},
                       "run_as_username \"ghost\": not in the image's /etc/passwd (image "
                       "\"docker.io/x:1\")");
        assert_refused(&(struct user_db_req){.image_user = "ghost"}, "image user \"ghost\"");
        assert_refused(&(struct user_db_req){.image_user = ":staff"}, "image user \"\"");
        assert_refused(&(struct user_db_req){.image_user = "app:nogroup", .image = "i"},
                       "image group \"nogroup\": not in the image's /etc/group (image \"i\")");
        /* no files: names are unknown, numbers still run */
        assert_int_equal(
                user_db_resolve(&(struct user_db_req){.username = "app"}, NULL, NULL, &ids, NULL),
                -EINVAL);
        assert_int_equal(
                user_db_resolve(&(struct user_db_req){.image_user = "5:6"}, NULL, NULL, &ids, NULL),
                0);
        assert_ids(5, 6, (unsigned[]){6}, 1);
}

/* A long line is one line: no buffer in the parser cuts it. */
static void long_lines(void **state)
{
        size_t n = 1u << 20;
        char *passwd = malloc(2 * n + 1024), *group = malloc(2 * n + 1024), *p;

        assert_non_null(passwd);
        assert_non_null(group);
        p = passwd;
        memset(p, 'a', n);
        p += n;
        p += sprintf(p, ":x:1:1::/:/bin/sh\n"); /* a name too long: skipped */
        memset(p, 'b', 300);
        p += 300;
        p += sprintf(p, "\nlong:x:77:78:");
        memset(p, 'g', n); /* a long GECOS field: the entry is fine */
        p += n;
        sprintf(p, ":/:/bin/sh\n");
        snprintf(group, 64, "many:x:90:");
        p = group + strlen(group);
        for (size_t i = 0; i < 40000; i++)
                p += sprintf(p, "u%zu,", i);
        sprintf(p, "long\n");
        assert_int_equal(user_db_resolve(&(struct user_db_req){.username = "long"}, passwd, group,
                                         &ids, NULL),
                         0);
        assert_ids(77, 78, (unsigned[]){78, 90}, 2);
        memset(passwd, 'a', 300);
        passwd[300] = '\0';
        assert_int_equal(user_db_resolve(&(struct user_db_req){.username = passwd}, passwd, group,
                                         &ids, NULL),
                         -EINVAL);
        free(passwd);
        free(group);
}

static void memberships_capped(void **state)
{
        size_t len = 200 * 32 + 64;
        char *group = malloc(len), *p = group;

        assert_non_null(group);
        for (unsigned g = 0; g < 200; g++)
                p += sprintf(p, "g%u:x:%u:app\n", g, 5000 + g);
        assert_int_equal(user_db_resolve(&(struct user_db_req){.username = "app"}, PASSWD, group,
                                         &ids, NULL),
                         0);
        assert_int_equal(ids.n_groups, USER_DB_MAX_GROUPS);
        assert_int_equal(ids.groups[0], 1000);
        assert_int_equal(ids.groups[1], 5000);
        free(group);
}

static void partial_line_dropped(void **state)
{
        char a[] = "app:x:1000:10\nweb:x:33:3", b[] = "app:x:1000:10\n", c[] = "nonewline";

        user_db_drop_partial_line(a, strlen(a));
        assert_string_equal(a, "app:x:1000:10\n");
        user_db_drop_partial_line(b, strlen(b));
        assert_string_equal(b, "app:x:1000:10\n");
        user_db_drop_partial_line(c, strlen(c));
        assert_string_equal(c, "");
}

static void parse_id(void **state)
{
        unsigned v;

        assert_true(user_db_parse_id("0", &v) && v == 0);
        assert_true(user_db_parse_id("4294967294", &v) && v == 4294967294u);
        assert_false(user_db_parse_id("4294967295", &v));
        assert_false(user_db_parse_id("", &v));
        assert_false(user_db_parse_id(" 1", &v));
        assert_false(user_db_parse_id("1 ", &v));
        assert_false(user_db_parse_id("-0", &v));
        assert_false(user_db_parse_id("99999999999999999999999", &v));
        assert_false(user_db_parse_id(NULL, &v));
}

static void json_round_trip(void **state)
{
        const unsigned extra[] = {7, 8};
        struct user_db_req q = {.image_user = "app:staff",
                                .username = "web",
                                .has_gid = true,
                                .gid = 50,
                                .strict = true,
                                .supplemental = extra,
                                .n_supplemental = 2,
                                .image = "busybox"},
                           back;
        json_object *o = user_db_req_to_json(&q), *a;
        unsigned *buf = NULL;
        struct user_db_ids in = {.uid = 1, .gid = 2, .groups = {2, 3}, .n_groups = 2}, out;

        assert_int_equal(user_db_req_from_json(o, &back, &buf, NULL), 0);
        assert_string_equal(back.image_user, "app:staff");
        assert_string_equal(back.username, "web");
        assert_string_equal(back.image, "busybox");
        assert_false(back.has_uid);
        assert_true(back.has_gid && back.gid == 50 && back.strict);
        assert_int_equal(back.n_supplemental, 2);
        assert_int_equal(back.supplemental[1], 8);
        free(buf);
        json_object_put(o);
        o = user_db_ids_to_json(&in);
        assert_int_equal(user_db_ids_from_json(o, &out, NULL), 0);
        assert_int_equal(out.uid, 1);
        assert_int_equal(out.n_groups, 2);
        assert_int_equal(out.groups[1], 3);
        json_object_put(o);

        /* Bad requests (the agent's input): refused, never trusted. */
        static const char *const bad_req[] = {
                "[]",
                "{\"Uid\":-1}",
                "{\"Uid\":4294967295}",
                "{\"Gid\":\"5\"}",
                "{\"Username\":5}",
                "{\"Strict\":\"yes\"}",
                "{\"Groups\":{}}",
                "{\"Groups\":[1,-2]}",
        };
        for (size_t i = 0; i < sizeof(bad_req) / sizeof(bad_req[0]); i++) {
                o = json_tokener_parse(bad_req[i]);
                buf = NULL;
                assert_int_equal(user_db_req_from_json(o, &back, &buf, NULL), -EINVAL);
                assert_null(buf);
                json_object_put(o);
        }
        o = json_object_new_object();
        a = json_object_new_array();
        for (int i = 0; i < USER_DB_MAX_GROUPS; i++)
                json_object_array_add(a, json_object_new_int(i));
        json_object_object_add(o, "Groups", a);
        assert_int_equal(user_db_req_from_json(o, &back, &buf, NULL), -EINVAL); /* one too many */
        json_object_put(o);
        /* Bad answers (the host's input). */
        static const char *const bad_ids[] = {"{}", "{\"Uid\":1}", "{\"Uid\":1,\"Gid\":-3}",
                                              "{\"Uid\":1,\"Gid\":1,\"Groups\":[\"x\"]}"};
        for (size_t i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
                o = json_tokener_parse(bad_ids[i]);
                assert_int_equal(user_db_ids_from_json(o, &out, NULL), -EBADMSG);
                json_object_put(o);
        }
}

static int teardown(void **state)
{
        uvm_error_free(err);
        err = NULL;
        return 0;
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(names_and_ids),
                cmocka_unit_test(groups_and_policy),
                cmocka_unit_test(malformed_lines_skipped),
                cmocka_unit_test(long_lines),
                cmocka_unit_test(memberships_capped),
                cmocka_unit_test(partial_line_dropped),
                cmocka_unit_test(parse_id),
                cmocka_unit_test(json_round_trip),
        };

        return cmocka_run_group_tests(tests, NULL, teardown);
}
