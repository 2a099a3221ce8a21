#include <stdio.h>
#include <string.h>

#include "service/windows/winsvc_args.h"

static const char *const command_flags[] = {
        [WINSVC_CMD_REGISTER] = "--register-service",
        [WINSVC_CMD_UNREGISTER] = "--unregister-service",
        [WINSVC_CMD_SERVICE] = "--service",
};

int winsvc_check_name(const char *name, struct uvm_error **err)
{
        size_t n = name ? strlen(name) : 0;

        if (n == 0)
                return uvm_error_set(err, EINVAL, "service name is empty");
        if (n > WINSVC_NAME_MAX)
                return uvm_error_set(err, EINVAL, "service name is %lu characters, at most %d",
                                     (unsigned long) n, WINSVC_NAME_MAX);
        for (const char *p = name; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '-'))
                        return uvm_error_set(err, EINVAL,
                                             "service name '%s': only letters, digits, '.', "
                                             "'_' and '-' are allowed",
                                             name);
        return 0;
}

int winsvc_check_path(const char *what, const char *path, struct uvm_error **err)
{
        size_t n = path ? strlen(path) : 0;

        if (n == 0)
                return uvm_error_set(err, EINVAL, "%s path is empty", what);
        if (n > WINSVC_PATH_MAX)
                return uvm_error_set(err, EINVAL, "%s path is %lu bytes long, at most %d", what,
                                     (unsigned long) n, WINSVC_PATH_MAX);
        for (const char *p = path; *p; p++) {
                if (*p == '"')
                        return uvm_error_set(err, EINVAL,
                                             "%s path '%s' has a double quote, which a "
                                             "service command line cannot carry",
                                             what, path);
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return uvm_error_set(err, EINVAL, "%s path has a control character", what);
        }
        return 0;
}

bool winsvc_path_is_absolute(const char *path)
{
        bool drive =
                path && ((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z'));

        if (drive && path[1] == ':' && (path[2] == '\\' || path[2] == '/'))
                return true;
        return path && path[0] == '\\' && path[1] == '\\' && path[2] && path[2] != '\\';
}

static int append(char **line, const char *s, size_t n)
{
        size_t old = *line ? strlen(*line) : 0;
        char *p = realloc(*line, old + n + 1);

        if (!p)
                return -ENOMEM;
        memcpy(p + old, s, n);
        p[old + n] = '\0';
        *line = p;
        return 0;
}

int winsvc_append_quoted(char **line, const char *arg)
{
        size_t n = strlen(arg), slashes = 0;

        /* Backslashes are literal except before a quote, where 2k of them
         * read as k: the trailing run must be doubled so that "C:\dir\"
         * does not swallow its own closing quote. */
        while (slashes < n && arg[n - 1 - slashes] == '\\')
                slashes++;
        if ((*line && **line && append(line, " ", 1) < 0) || append(line, "\"", 1) < 0 ||
            append(line, arg, n) < 0)
                return -ENOMEM;
        for (size_t i = 0; i < slashes; i++)
                if (append(line, "\\", 1) < 0)
                        return -ENOMEM;
        return append(line, "\"", 1);
}

int winsvc_command_line(const char *exe, const char *config, const char *name, unsigned flags,
                        char **ret_line, struct uvm_error **err)
{
        _cleanup_free_ char *line = NULL;
        int r;

        if ((r = winsvc_check_path("executable", exe, err)) < 0 ||
            (r = winsvc_check_path("config", config, err)) < 0 ||
            (r = winsvc_check_name(name, err)) < 0)
                return r;
        if (exe[strlen(exe) - 1] == '\\' || exe[strlen(exe) - 1] == '/')
                return uvm_error_set(err, EINVAL, "executable path '%s' names a directory", exe);
        /* The program name is read differently from the arguments: from
         * quote to quote, backslashes and all (the SCM and CommandLineToArgvW
         * alike), so it is quoted as it is. */
        if (append(&line, "\"", 1) < 0 || append(&line, exe, strlen(exe)) < 0 ||
            append(&line, "\" --service --config", 20) < 0 ||
            winsvc_append_quoted(&line, config) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        /* The name needs no quotes: winsvc_check_name allows no space. */
        if (!STR_EQ(name, WINSVC_DEFAULT_NAME) &&
            (append(&line, " --service-name ", 16) < 0 || append(&line, name, strlen(name)) < 0))
                return uvm_error_set(err, ENOMEM, "out of memory");
        if ((flags & WINSVC_EVENT_LOG) && append(&line, " --event-log", 12) < 0)
                return uvm_error_set(err, ENOMEM, "out of memory");
        *ret_line = TAKE_PTR(line);
        return 0;
}

static int set_command(struct winsvc_args *a, enum winsvc_command c, struct uvm_error **err)
{
        if (a->command != WINSVC_CMD_NONE && a->command != c)
                return uvm_error_set(err, EINVAL, "%s and %s cannot be used together",
                                     command_flags[a->command], command_flags[c]);
        a->command = c;
        return 0;
}

/* "--flag VALUE" or "--flag=VALUE": the value, or NULL if arg is not flag.
 * *i moves past a separate value; a missing value is an error. */
static int flag_value(int argc, char **argv, int *i, const char *flag, const char **ret_value,
                      struct uvm_error **err)
{
        size_t n = strlen(flag);
        const char *arg = argv[*i];

        *ret_value = NULL;
        if (strncmp(arg, flag, n) != 0)
                return 0;
        if (arg[n] == '=') {
                *ret_value = arg + n + 1;
                return 1;
        }
        if (arg[n] != '\0')
                return 0;
        if (*i + 1 >= argc)
                return uvm_error_set(err, EINVAL, "%s needs a value", flag);
        *ret_value = argv[++*i];
        return 1;
}

/* One argument at argv[*i]: 1 if it is a service option (removed from
 * argv), 0 if it is the program's, -errno on a bad one. */
static int parse_one(int argc, char **argv, int *i, struct winsvc_args *a, bool *named, bool *other,
                     struct uvm_error **err)
{
        const char *arg = argv[*i], *v = NULL;
        int r;

        for (int c = WINSVC_CMD_REGISTER; c <= WINSVC_CMD_SERVICE; c++)
                if (STR_EQ(arg, command_flags[c]))
                        return set_command(a, c, err) < 0 ? -EINVAL : 1;
        if (STR_EQ(arg, "--event-log")) {
                a->flags |= WINSVC_EVENT_LOG;
                return 1;
        }
        if ((r = flag_value(argc, argv, i, "--service-name", &v, err)) != 0) {
                if (r < 0 || winsvc_check_name(v, err) < 0)
                        return -EINVAL;
                a->name = v;
                *named = true;
                return 1;
        }
        if ((r = flag_value(argc, argv, i, "--config", &v, err)) != 0 ||
            (STR_EQ(arg, "-c") && (r = flag_value(argc, argv, i, "-c", &v, err)) != 0)) {
                if (r < 0)
                        return -EINVAL;
                if (STR_EMPTY(v))
                        return uvm_error_set(err, EINVAL, "--config: the path is empty");
                a->config = v;
                return 0; /* kept: the daemon reads it too */
        }
        *other = true;
        return 0;
}

int winsvc_parse_args(int *argc, char **argv, struct winsvc_args *ret_args, struct uvm_error **err)
{
        struct winsvc_args a = {.command = WINSVC_CMD_NONE, .name = WINSVC_DEFAULT_NAME};
        bool other = false, named = false;
        int out = 1, i;

        for (i = 1; i < *argc && !STR_EQ(argv[i], "--"); i++) {
                int first = i, r = parse_one(*argc, argv, &i, &a, &named, &other, err);

                if (r < 0)
                        return r;
                if (r == 0)
                        for (int k = first; k <= i; k++)
                                argv[out++] = argv[k];
        }
        for (; i < *argc; i++) {
                other = true;
                argv[out++] = argv[i];
        }
        if (a.command == WINSVC_CMD_NONE && (named || (a.flags & WINSVC_EVENT_LOG)))
                return uvm_error_set(err, EINVAL,
                                     "--service-name and --event-log go with --register-service, "
                                     "--unregister-service or --service");
        if ((a.command == WINSVC_CMD_REGISTER || a.command == WINSVC_CMD_UNREGISTER) && other)
                return uvm_error_set(err, EINVAL,
                                     "%s takes only --config, --service-name and --event-log",
                                     command_flags[a.command]);
        argv[out] = NULL;
        *argc = out;
        *ret_args = a;
        return 0;
}
