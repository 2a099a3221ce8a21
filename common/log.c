#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "common/log.h"

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Set once at start-up, before threads; read-only afterwards. */
static enum log_level cur_level = LOG_LEVEL_INFO;
static enum log_format cur_format = LOG_FORMAT_TEXT;
static log_sink_fn cur_sink;
static void *cur_sink_data;

int log_parse_level(const char *s, enum log_level *ret_level)
{
        for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
                if (s && STR_EQ(s, level_names[i])) {
                        *ret_level = (enum log_level) i;
                        return 0;
                }
        return -EINVAL;
}

int log_parse_format(const char *s, enum log_format *ret_format)
{
        if (s && STR_EQ(s, "text"))
                *ret_format = LOG_FORMAT_TEXT;
        else if (s && STR_EQ(s, "json"))
                *ret_format = LOG_FORMAT_JSON;
        else
                return -EINVAL;
        return 0;
}

const char *log_level_to_string(enum log_level level)
{
        return (unsigned) level < ARRAY_SIZE(level_names) ? level_names[level] : "?";
}

void log_setup(enum log_level level, enum log_format format)
{
        cur_level = level;
        cur_format = format;
}

void log_set_sink(log_sink_fn sink, void *userdata)
{
        cur_sink = sink;
        cur_sink_data = userdata;
}

bool log_enabled(enum log_level level)
{
        return level >= cur_level;
}

static void format_time(char *buf, size_t size)
{
        struct timespec ts;
        struct tm tm;

        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                 (long) (ts.tv_nsec / 1000) % 1000000);
}

static char *format_json(const char *ts, enum log_level level, const char *pod, const char *ctr,
                         const char *msg)
{
        json_object *o = json_object_new_object();
        char *out = NULL;

        json_object_object_add(o, "time", json_object_new_string(ts));
        json_object_object_add(o, "level", json_object_new_string(log_level_to_string(level)));
        if (pod)
                json_object_object_add(o, "pod", json_object_new_string(pod));
        if (ctr)
                json_object_object_add(o, "container", json_object_new_string(ctr));
        json_object_object_add(o, "msg", json_object_new_string(msg));
        if (asprintf(&out, "%s\n",
                     json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                               JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
                out = NULL;
        json_object_put(o);
        return out;
}

void log_emit(enum log_level level, const char *pod, const char *ctr, const char *fmt, ...)
{
        char ts[64], *msg = NULL, *rec = NULL;
        va_list ap;
        int saved = errno;

        if (!log_enabled(level))
                return;
        va_start(ap, fmt);
        if (vasprintf(&msg, fmt, ap) < 0)
                msg = NULL;
        va_end(ap);
        if (!msg)
                goto out;
        format_time(ts, sizeof(ts));
        if (cur_format == LOG_FORMAT_JSON)
                rec = format_json(ts, level, pod, ctr, msg);
        else if (asprintf(&rec, "%s %-5s %s%s%s%s%s%s\n", ts, log_level_to_string(level),
                          pod ? "pod=" : "", pod ? pod : "", ctr ? " ctr=" : "", ctr ? ctr : "",
                          (pod || ctr) ? " " : "", msg) < 0)
                rec = NULL;
        if (!rec)
                goto out;
        if (cur_sink)
                cur_sink(rec, strlen(rec), cur_sink_data);
        else if (write(STDERR_FILENO, rec, strlen(rec)) < 0) {
                /* Nowhere left to report a failed log write, ignoring. */
        }
out:
        free(msg);
        free(rec);
        errno = saved;
}
