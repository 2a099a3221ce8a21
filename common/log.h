#pragma once

/*
 * One logging module: levels, a pluggable sink, one write() per record.
 * Records carry optional pod/container ids as context.
 */

#include <stdbool.h>

#include "common/macros.h"

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

/* A sink receives one formatted record (with trailing newline). */
typedef void (*log_sink_fn)(const char *record, size_t len, void *userdata);

int log_parse_level(const char *s, enum log_level *ret_level);
int log_parse_format(const char *s, enum log_format *ret_format);
const char *log_level_to_string(enum log_level level);

void log_setup(enum log_level level, enum log_format format);
/* NULL restores the default sink (stderr). */
void log_set_sink(log_sink_fn sink, void *userdata);
bool log_enabled(enum log_level level);

void log_emit(enum log_level level, const char *pod, const char *ctr, const char *fmt, ...)
        _printf_(4, 5);

#define log_debug(...) log_emit(LOG_LEVEL_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_info(...) log_emit(LOG_LEVEL_INFO, NULL, NULL, __VA_ARGS__)
#define log_warn(...) log_emit(LOG_LEVEL_WARN, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_emit(LOG_LEVEL_ERROR, NULL, NULL, __VA_ARGS__)
#define log_pod(level, pod, ...) log_emit(level, pod, NULL, __VA_ARGS__)
#define log_ctr(level, pod, ctr, ...) log_emit(level, pod, ctr, __VA_ARGS__)
