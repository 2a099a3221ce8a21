/* What the error channel says when a remote command ends (sconn.h). From
 * protocol v4 on it is a JSON Status object (Kubernetes' metav1.Status):
 * Success, or Failure with reason NonZeroExitCode and the exit code in
 * details.causes[0] (reason ExitCode), or InternalError for a command that
 * could not run. Older protocols carry only an error's text. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "stream/sconn.h"

static char *take(json_object *o, size_t *len)
{
        const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
        char *s = text ? strdup(text) : NULL;

        json_object_put(o);
        *len = s ? strlen(s) : 0;
        return s;
}

char *kstatus_payload(unsigned version, int code, const char *reason, size_t *len)
{
        json_object *o, *details, *causes, *cause;
        char msg[512];

        if (code == 0) {
                if (version < 4) {
                        *len = 0;
                        return strdup("");
                }
                o = json_object_new_object();
                json_object_object_add(o, "metadata", json_object_new_object());
                json_object_object_add(o, "status", json_object_new_string("Success"));
                return take(o, len);
        }
        if (code > 0)
                snprintf(msg, sizeof(msg),
                         "command terminated with non-zero exit code: exit code %d", code);
        else
                snprintf(msg, sizeof(msg), "%s", reason ? reason : "the session failed");
        if (version < 4) {
                *len = strlen(msg);
                return strdup(msg);
        }
        o = json_object_new_object();
        details = json_object_new_object();
        causes = json_object_new_array();
        cause = json_object_new_object();
        json_object_object_add(o, "metadata", json_object_new_object());
        json_object_object_add(o, "status", json_object_new_string("Failure"));
        json_object_object_add(o, "message", json_object_new_string(msg));
        if (code > 0) {
                snprintf(msg, sizeof(msg), "%d", code);
                json_object_object_add(o, "reason", json_object_new_string("NonZeroExitCode"));
                json_object_object_add(cause, "reason", json_object_new_string("ExitCode"));
                json_object_object_add(cause, "message", json_object_new_string(msg));
        } else {
                json_object_object_add(o, "reason", json_object_new_string("InternalError"));
                json_object_object_add(o, "code", json_object_new_int(500));
                json_object_object_add(cause, "message", json_object_new_string(msg));
        }
        json_object_array_add(causes, cause);
        json_object_object_add(details, "causes", causes);
        json_object_object_add(o, "details", details);
        return take(o, len);
}
