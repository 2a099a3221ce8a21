#pragma once

/*
 * The portable half of the Windows service wrapper: the service options on
 * uvmd.exe's command line, the checks on names and paths, and the command
 * line the service control manager is given. Pure string work, so it is
 * unit-tested on Linux as well as under Wine.
 */

#include <stdbool.h>

#include "common/error.h"

#define WINSVC_DEFAULT_NAME "uvmd"
/* The SCM's limit on a service name is 256 characters. */
#define WINSVC_NAME_MAX 256
/* Paths go into the service's command line (ImagePath); 1024 leaves room
 * for two of them well under the 32767-character command line limit. */
#define WINSVC_PATH_MAX 1024

enum winsvc_command {
        WINSVC_CMD_NONE,       /* not a service command: a console run */
        WINSVC_CMD_REGISTER,   /* --register-service */
        WINSVC_CMD_UNREGISTER, /* --unregister-service */
        WINSVC_CMD_SERVICE,    /* --service: started by the SCM */
};

/* Registration flags, carried into the service's command line. */
enum {
        WINSVC_EVENT_LOG = 1 << 0, /* also log to the Windows event log */
};

struct winsvc_args {
        enum winsvc_command command;
        const char *name;   /* --service-name, or WINSVC_DEFAULT_NAME; points into argv */
        const char *config; /* --config / -c when given, else NULL; points into argv */
        unsigned flags;     /* WINSVC_EVENT_LOG from --event-log */
};

/*
 * Finds the service options in argv and removes them, compacting argv and
 * *argc, so that the program's own parser sees only its own flags. --config
 * (-c, --config=PATH) is read but left in place: the daemon loads it too.
 * Removed: --register-service, --unregister-service, --service,
 * --service-name NAME (or =NAME), --event-log. Refuses two commands, an
 * option without its value, --service-name/--event-log without a command,
 * a bad name, and (with --register-service or --unregister-service) any
 * other argument, since those commands do not start the daemon.
 */
int winsvc_parse_args(int *argc, char **argv, struct winsvc_args *ret_args, struct uvm_error **err);

/* A service name: 1..WINSVC_NAME_MAX characters of [A-Za-z0-9._-] (it also
 * names the event log source and appears in file names). */
int winsvc_check_name(const char *name, struct uvm_error **err);

/* A path for the command line: not empty, at most WINSVC_PATH_MAX bytes, no
 * double quote (it cannot be quoted on a Windows command line) nor control
 * character. what names it in the error ("executable", "config"). */
int winsvc_check_path(const char *what, const char *path, struct uvm_error **err);

/* An absolute Windows path: "X:\..." (or "X:/...") or a UNC "\\server\...".
 * The SCM starts services in the system directory, so relative paths in
 * their command lines would point there. */
bool winsvc_path_is_absolute(const char *path);

/* Appends arg to the string *line (malloc'd, may be NULL), quoted the way
 * CommandLineToArgvW and the C runtime read an argument back: in double
 * quotes, with any run of backslashes before the closing quote doubled.
 * Not for the program name, which is read literally between its quotes.
 * arg holds no double quote (checked by the callers). */
int winsvc_append_quoted(char **line, const char *arg);

/* The service's command line: "<exe>" --service --config "<config>", plus
 * --service-name NAME when it is not the default and --event-log when
 * flags ask for it. exe must not end in a backslash (it names a file). */
int winsvc_command_line(const char *exe, const char *config, const char *name, unsigned flags,
                        char **ret_line, struct uvm_error **err);
