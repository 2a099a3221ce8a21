/* The CRI's user fields, checked, as a user_db request (user.h): shared by
 * Linux, which resolves it on the host (user.c), and Windows, whose hcs
 * pods' agent resolves it in the VM (ctr_win.c). */

#include <errno.h>
#include <stdio.h>

#include "common/macros.h"
#include "sandbox/user.h"

static int check_id(const char *field, int64_t v, struct uvm_error **err)
{
        if (v < 0 || v > USER_DB_ID_MAX)
                return uvm_error_set(err, EINVAL, "%s %lld: must be 0 to %lld", field,
                                     (long long) v, USER_DB_ID_MAX);
        return 0;
}

int ctr_user_request(const Runtime__V1__LinuxContainerSecurityContext *sc, const char *image_user,
                     const char *image, unsigned *groups, struct user_db_req *ret,
                     struct uvm_error **err)
{
        static const Runtime__V1__LinuxContainerSecurityContext none =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        struct user_db_req q = {.image_user = image_user, .image = image, .supplemental = groups};
        int r;

        if (!sc)
                sc = &none;
        /* The CRI: a group alone is an error, whatever the image says. */
        if (sc->run_as_group && !sc->run_as_user && STR_EMPTY(sc->run_as_username))
                return uvm_error_set(err, EINVAL,
                                     "run_as_group is set without run_as_user or "
                                     "run_as_username");
        if (sc->n_supplemental_groups > CTR_USER_MAX_GROUPS - 1)
                return uvm_error_set(err, EINVAL, "more than %d supplemental_groups",
                                     CTR_USER_MAX_GROUPS - 1);
        if (sc->run_as_user) {
                if ((r = check_id("run_as_user", sc->run_as_user->value, err)) < 0)
                        return r;
                q.has_uid = true;
                q.uid = (unsigned) sc->run_as_user->value;
        }
        q.username = sc->run_as_username;
        if (sc->run_as_group) {
                if ((r = check_id("run_as_group", sc->run_as_group->value, err)) < 0)
                        return r;
                q.has_gid = true;
                q.gid = (unsigned) sc->run_as_group->value;
        }
        q.strict =
                sc->supplemental_groups_policy == RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
        for (size_t i = 0; i < sc->n_supplemental_groups; i++) {
                char field[48];

                snprintf(field, sizeof(field), "supplemental_groups[%zu]", i);
                if ((r = check_id(field, sc->supplemental_groups[i], err)) < 0)
                        return r;
                groups[i] = (unsigned) sc->supplemental_groups[i];
        }
        q.n_supplemental = sc->n_supplemental_groups;
        *ret = q;
        return 0;
}
