#include <stdarg.h>
#include <string.h>

#include "common/error.h"

static struct uvm_error oom_error = {ENOMEM, (char *) "out of memory"};

int uvm_error_set(struct uvm_error **err, int code, const char *fmt, ...)
{
        struct uvm_error *e;
        va_list ap;

        if (code < 0)
                code = -code;
        if (code == 0)
                code = EIO;
        if (!err)
                return -code;
        if (*err)
                return -(*err)->code;

        e = calloc(1, sizeof(*e));
        if (!e) {
                *err = &oom_error;
                return -ENOMEM;
        }
        e->code = code;
        va_start(ap, fmt);
        if (vasprintf(&e->msg, fmt, ap) < 0)
                e->msg = NULL;
        va_end(ap);
        *err = e;
        return -code;
}

int uvm_error_wrap(struct uvm_error **err, const char *fmt, ...)
{
        char *ctx = NULL, *msg = NULL;
        va_list ap;

        if (!err || !*err)
                return -EIO;
        if ((*err) == &oom_error)
                return -ENOMEM;
        va_start(ap, fmt);
        if (vasprintf(&ctx, fmt, ap) < 0)
                ctx = NULL;
        va_end(ap);
        if (ctx && asprintf(&msg, "%s: %s", ctx, (*err)->msg ? (*err)->msg : "error") >= 0) {
                free((*err)->msg);
                (*err)->msg = msg;
        }
        free(ctx);
        return -(*err)->code;
}

int uvm_error_code(const struct uvm_error *err)
{
        return err ? -err->code : -EIO;
}

struct uvm_error *uvm_error_free(struct uvm_error *err)
{
        if (!err || err == &oom_error)
                return NULL;
        free(err->msg);
        free(err);
        return NULL;
}
