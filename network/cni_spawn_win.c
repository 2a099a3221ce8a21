/* The CNI executor's Windows half (cni-plat.h): cni_exec_spawn starts a
 * plugin with CreateProcessW, suspended, puts it in a Job object that kills
 * everything in it when closed, then lets it run; stdin, stdout and stderr
 * are our pipes, each served by a thread of its own (anonymous pipes have no
 * non-blocking mode), stdout bounded; at the deadline, at the bound and
 * after the plugin exits the job is terminated, so nothing it started
 * outlives it and holds the pipes. Plugins are "<type>.exe" in a bin dir. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

/* Before windows.h: objbase.h makes "interface" a macro, and struct
 * cni_result has a field of that name. */
#include "network/cni_exec.h"

#include <windows.h>

#include "common/log.h"
#include "common/macros.h"
#include "common/platform.h"
#include "common/utf16.h"
#include "network/cni-plat.h"
#include "network/cni_conf.h"

/* Kept from stderr for the debug log: the end is where plugins say why. */
#define CNI_STDERR_TAIL 2048
/* The variables of our own environment a plugin needs to run at all:
 * Winsock and COM need SystemRoot; plugins run netsh and powershell by
 * PATH lookup. */
static const wchar_t *const cni_passed_env[] = {
        L"SystemRoot", L"SystemDrive", L"PATH", L"PATHEXT", L"TEMP", L"TMP", L"ComSpec"};

struct win_io {
        HANDLE in, out, errh; /* our ends */
        HANDLE overflow;      /* event: stdout passed its bound */
        const char *in_buf;
        size_t in_len;
        char *out_buf;
        size_t out_len;
        bool out_big, out_nomem;
        char err_tail[CNI_STDERR_TAIL + 1];
        size_t err_len;
};

static void close_h(HANDLE *h)
{
        if (*h && *h != INVALID_HANDLE_VALUE)
                CloseHandle(*h);
        *h = NULL;
}

static DWORD WINAPI feed_stdin(void *arg)
{
        struct win_io *io = arg;
        size_t off = 0;

        while (off < io->in_len) {
                DWORD n = 0, want = (DWORD) (io->in_len - off > 65536 ? 65536 : io->in_len - off);
                /* a plugin that exits without reading breaks the pipe: its
                 * exit status tells */
                if (!WriteFile(io->in, io->in_buf + off, want, &n, NULL))
                        break;
                off += n;
        }
        close_h(&io->in); /* EOF for the plugin */
        return 0;
}

static DWORD WINAPI drain_stdout(void *arg)
{
        struct win_io *io = arg;
        char buf[16384];
        DWORD n;

        while (ReadFile(io->out, buf, sizeof(buf), &n, NULL) && n > 0) {
                char *p;
                if (io->out_len + n > CNI_MAX_OUTPUT) {
                        io->out_big = true;
                        SetEvent(io->overflow);
                        return 0;
                }
                p = realloc(io->out_buf, io->out_len + n + 1);
                if (!p) {
                        io->out_nomem = true;
                        SetEvent(io->overflow);
                        return 0;
                }
                io->out_buf = p;
                memcpy(p + io->out_len, buf, n);
                io->out_len += n;
                p[io->out_len] = '\0';
        }
        return 0;
}

static DWORD WINAPI drain_stderr(void *arg)
{
        struct win_io *io = arg;
        char buf[4096];
        DWORD n;

        while (ReadFile(io->errh, buf, sizeof(buf), &n, NULL) && n > 0) {
                size_t keep;
                if (n >= CNI_STDERR_TAIL) {
                        memcpy(io->err_tail, buf + n - CNI_STDERR_TAIL, CNI_STDERR_TAIL);
                        io->err_len = CNI_STDERR_TAIL;
                        continue;
                }
                keep = io->err_len + n > CNI_STDERR_TAIL ? CNI_STDERR_TAIL - n : io->err_len;
                memmove(io->err_tail, io->err_tail + io->err_len - keep, keep);
                memcpy(io->err_tail + keep, buf, n);
                io->err_len = keep + n;
        }
        return 0;
}

/* "A=B\0C=D\0\0" in UTF-16, as CREATE_UNICODE_ENVIRONMENT wants. */
static wchar_t *env_block(char *const *env)
{
        size_t len = 1, off = 0;
        wchar_t *block, *w = NULL;

        for (size_t i = 0; env[i]; i++) {
                if (utf8_to_wide(env[i], 32767, &w) < 0)
                        return NULL;
                len += wcslen(w) + 1;
                free(w);
        }
        block = calloc(len, sizeof(wchar_t));
        for (size_t i = 0; block && env[i]; i++) {
                if (utf8_to_wide(env[i], 32767, &w) < 0) {
                        free(block);
                        return NULL;
                }
                wcscpy(block + off, w);
                off += wcslen(w) + 1;
                free(w);
        }
        return block;
}

/* Three pipes; the child's ends inheritable, ours not. */
static int make_pipes(struct win_io *io, HANDLE child[3])
{
        SECURITY_ATTRIBUTES sa = {sizeof(sa), NULL, TRUE};

        if (!CreatePipe(&child[0], &io->in, &sa, 0) || !CreatePipe(&io->out, &child[1], &sa, 0) ||
            !CreatePipe(&io->errh, &child[2], &sa, 0))
                return -plat_errno_from_win32(GetLastError());
        if (!SetHandleInformation(io->in, HANDLE_FLAG_INHERIT, 0) ||
            !SetHandleInformation(io->out, HANDLE_FLAG_INHERIT, 0) ||
            !SetHandleInformation(io->errh, HANDLE_FLAG_INHERIT, 0))
                return -plat_errno_from_win32(GetLastError());
        return 0;
}

static HANDLE kill_job(void)
{
        JOBOBJECT_EXTENDED_LIMIT_INFORMATION lim = {0};
        HANDLE job = CreateJobObjectW(NULL, NULL);

        if (!job)
                return NULL;
        lim.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
        if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &lim, sizeof(lim))) {
                CloseHandle(job);
                return NULL;
        }
        return job;
}

/* The plugin, suspended until it is in the job: only the three pipe ends
 * are inherited (a plugin started by another thread at the same time gets
 * none of ours). */
static int start(const char *path, char *const *env, HANDLE job, HANDLE child[3],
                 PROCESS_INFORMATION *pi)
{
        _cleanup_free_ wchar_t *wpath = NULL, *block = NULL, *cmd = NULL;
        STARTUPINFOEXW si = {0};
        SIZE_T size = 0;
        DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | CREATE_NO_WINDOW |
                      EXTENDED_STARTUPINFO_PRESENT;
        int r = utf8_to_wide(path, UTF16_PATH_MAX, &wpath);
        BOOL ok;

        if (r < 0)
                return r;
        block = env_block(env);
        cmd = calloc(wcslen(wpath) + 3, sizeof(wchar_t));
        if (!block || !cmd)
                return -ENOMEM;
        swprintf(cmd, wcslen(wpath) + 3, L"\"%ls\"", wpath);
        si.StartupInfo.cb = sizeof(si);
        si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
        si.StartupInfo.hStdInput = child[0];
        si.StartupInfo.hStdOutput = child[1];
        si.StartupInfo.hStdError = child[2];
        InitializeProcThreadAttributeList(NULL, 1, 0, &size);
        si.lpAttributeList = malloc(size);
        if (!si.lpAttributeList)
                return -ENOMEM;
        if (!InitializeProcThreadAttributeList(si.lpAttributeList, 1, 0, &size) ||
            !UpdateProcThreadAttribute(si.lpAttributeList, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                       child, 3 * sizeof(HANDLE), NULL, NULL)) {
                free(si.lpAttributeList);
                return -plat_errno_from_win32(GetLastError());
        }
        ok = CreateProcessW(wpath, cmd, NULL, NULL, TRUE, flags, block, NULL, &si.StartupInfo, pi);
        r = ok ? 0 : -plat_errno_from_win32(GetLastError());
        DeleteProcThreadAttributeList(si.lpAttributeList);
        free(si.lpAttributeList);
        if (r < 0)
                return r;
        if (!AssignProcessToJobObject(job, pi->hProcess)) {
                r = -plat_errno_from_win32(GetLastError());
                TerminateProcess(pi->hProcess, 255);
                return r;
        }
        ResumeThread(pi->hThread);
        return 0;
}

static const char *base_name(const char *path)
{
        const char *s = strrchr(path, '\\'), *t = strrchr(path, '/');

        s = s && (!t || s > t) ? s : t;
        return s ? s + 1 : path;
}

/* Pump until exit, the deadline or the bound: 0 exited, -ETIMEDOUT,
 * -EFBIG, -ENOMEM. */
static int wait_plugin(struct win_io *io, HANDLE proc, unsigned timeout_ms)
{
        HANDLE w[2] = {proc, io->overflow};
        DWORD r = WaitForMultipleObjects(2, w, FALSE, timeout_ms);

        if (r == WAIT_OBJECT_0)
                return 0;
        if (r == WAIT_OBJECT_0 + 1)
                return io->out_nomem ? -ENOMEM : -EFBIG;
        if (r == WAIT_TIMEOUT)
                return -ETIMEDOUT;
        return -plat_errno_from_win32(GetLastError());
}

static int run_started(struct win_io *io, HANDLE job, PROCESS_INFORMATION *pi, unsigned timeout_ms,
                       int *ret_exit)
{
        HANDLE th[3] = {NULL, NULL, NULL};
        DWORD code = 255;
        int r;

        th[0] = CreateThread(NULL, 0, feed_stdin, io, 0, NULL);
        th[1] = CreateThread(NULL, 0, drain_stdout, io, 0, NULL);
        th[2] = CreateThread(NULL, 0, drain_stderr, io, 0, NULL);
        if (!th[0] || !th[1] || !th[2])
                r = -plat_errno_from_win32(GetLastError());
        else
                r = wait_plugin(io, pi->hProcess, timeout_ms);
        if (r == 0 && !GetExitCodeProcess(pi->hProcess, &code))
                r = -plat_errno_from_win32(GetLastError());
        /* Whatever it started goes with it; then the pipes close and the
         * threads end. */
        TerminateJobObject(job, 255);
        WaitForSingleObject(pi->hProcess, INFINITE);
        if (th[1])
                WaitForSingleObject(th[1], INFINITE);
        if (th[2])
                WaitForSingleObject(th[2], INFINITE);
        if (th[0]) {
                /* a plugin that never read: its pipe is broken now */
                WaitForSingleObject(th[0], INFINITE);
        }
        for (size_t i = 0; i < ARRAY_SIZE(th); i++)
                close_h(&th[i]);
        if (r == 0 && io->out_big)
                r = -EFBIG;
        *ret_exit = (int) (code > 255 ? 255 : code);
        return r;
}

static int spawn_run(void *data, const char *plugin_path, char *const *env, const char *stdin_json,
                     unsigned timeout_ms, char **ret_stdout, int *ret_exit, struct uvm_error **err)
{
        struct win_io io = {0};
        HANDLE child[3] = {NULL, NULL, NULL}, job = NULL;
        PROCESS_INFORMATION pi = {0};
        const char *name = base_name(plugin_path);
        int r, code = 255;

        io.in_buf = stdin_json ? stdin_json : "";
        io.in_len = strlen(io.in_buf);
        io.overflow = CreateEventW(NULL, TRUE, FALSE, NULL);
        job = kill_job();
        r = io.overflow && job ? make_pipes(&io, child) : -plat_errno_from_win32(GetLastError());
        if (r >= 0)
                r = start(plugin_path, env, job, child, &pi);
        for (size_t i = 0; i < ARRAY_SIZE(child); i++)
                close_h(&child[i]);
        if (r < 0) {
                close_h(&io.in);
                close_h(&io.out);
                close_h(&io.errh);
                close_h(&io.overflow);
                close_h(&job);
                close_h(&pi.hProcess);
                close_h(&pi.hThread);
                return uvm_error_set(err, -r, "plugin %s: cannot start '%s': %s", name, plugin_path,
                                     strerror(-r));
        }
        r = run_started(&io, job, &pi, timeout_ms, &code);
        close_h(&io.in);
        close_h(&io.out);
        close_h(&io.errh);
        close_h(&io.overflow);
        close_h(&job);
        close_h(&pi.hProcess);
        close_h(&pi.hThread);
        if (io.err_len > 0) {
                io.err_tail[io.err_len] = '\0';
                log_debug("CNI plugin %s stderr: %s", name, io.err_tail);
        }
        if (r == 0) {
                *ret_stdout = io.out_buf ? TAKE_PTR(io.out_buf) : strdup("");
                *ret_exit = code;
                return *ret_stdout ? 0 : uvm_error_set(err, ENOMEM, "out of memory");
        }
        free(io.out_buf);
        if (r == -ETIMEDOUT)
                return uvm_error_set(err, ETIMEDOUT, "plugin %s: timed out after %u ms, killed",
                                     name, timeout_ms);
        if (r == -EFBIG)
                return uvm_error_set(err, EFBIG, "plugin %s: output larger than %d bytes, killed",
                                     name, CNI_MAX_OUTPUT);
        return uvm_error_set(err, -r, "plugin %s: %s", name, strerror(-r));
}

const struct cni_exec_ops cni_exec_spawn = {
        .run = spawn_run,
};

/* "NAME=value" from our environment, or NULL when unset. */
static char *env_entry(const wchar_t *name)
{
        wchar_t buf[8192];
        DWORD n = GetEnvironmentVariableW(name, buf, ARRAY_SIZE(buf));
        _cleanup_free_ char *k = NULL, *v = NULL;
        char *s = NULL;

        if (n == 0 || n >= ARRAY_SIZE(buf) || wide_to_utf8(name, 256, &k) < 0 ||
            wide_to_utf8(buf, sizeof(buf) * 3, &v) < 0)
                return NULL;
        return asprintf(&s, "%s=%s", k, v) < 0 ? NULL : s;
}

int cni_plat_base_env(char *const *bin_dirs, char ***ret_env)
{
        _cleanup_strv_ char **env = calloc(ARRAY_SIZE(cni_passed_env) + 2, sizeof(char *));
        size_t len = sizeof("CNI_PATH="), n = 1;

        if (!env)
                return -ENOMEM;
        for (size_t i = 0; bin_dirs && bin_dirs[i]; i++)
                len += strlen(bin_dirs[i]) + 1;
        env[0] = malloc(len);
        if (!env[0])
                return -ENOMEM;
        strcpy(env[0], "CNI_PATH=");
        /* Windows' list separator */
        for (size_t i = 0; bin_dirs && bin_dirs[i]; i++) {
                if (i)
                        strcat(env[0], ";");
                strcat(env[0], bin_dirs[i]);
        }
        for (size_t i = 0; i < ARRAY_SIZE(cni_passed_env); i++)
                if ((env[n] = env_entry(cni_passed_env[i])))
                        n++;
        *ret_env = TAKE_PTR(env);
        return 0;
}

struct names {
        char **v;
        size_t n, cap;
        bool nomem;
};

static void add_name(void *data, const char *name, bool is_dir)
{
        struct names *ns = data;
        char **v;

        if (is_dir || ns->nomem)
                return;
        if (ns->n + 1 >= ns->cap) {
                v = realloc(ns->v, (ns->cap * 2 + 8) * sizeof(char *));
                if (!v) {
                        ns->nomem = true;
                        return;
                }
                ns->v = v;
                ns->cap = ns->cap * 2 + 8;
        }
        if (!(ns->v[ns->n] = strdup(name))) {
                ns->nomem = true;
                return;
        }
        ns->v[++ns->n] = NULL;
}

static int by_bytes(const void *a, const void *b)
{
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int cni_plat_dir_names(const char *dir, char ***ret_names, struct uvm_error **err)
{
        _cleanup_free_ wchar_t *w = NULL;
        struct names ns = {0};
        DWORD attrs;
        int r = utf8_to_wide(dir, UTF16_PATH_MAX, &w);

        attrs = r < 0 ? INVALID_FILE_ATTRIBUTES : GetFileAttributesW(w);
        if (attrs == INVALID_FILE_ATTRIBUTES || !(attrs & FILE_ATTRIBUTE_DIRECTORY))
                return uvm_error_set(err, ENOENT, "no network config: cannot read '%s'", dir);
        r = plat_dir_each(dir, add_name, &ns);
        if (r >= 0 && (ns.nomem || (!ns.v && !(ns.v = calloc(1, sizeof(char *))))))
                r = -ENOMEM;
        if (r < 0) {
                strv_free(ns.v);
                return uvm_error_set(err, -r, "no network config: cannot read '%s': %s", dir,
                                     strerror(-r));
        }
        qsort(ns.v, ns.n, sizeof(char *), by_bytes);
        *ret_names = ns.v;
        return 0;
}

char *cni_plat_path_join(const char *dir, const char *name)
{
        size_t n = strlen(dir);
        char *p = NULL;

        /* "C:\" keeps its separator */
        return asprintf(&p, "%s%s%s", dir, n && strchr("\\/", dir[n - 1]) ? "" : "\\", name) < 0
                       ? NULL
                       : p;
}

/* "<dir>\<type>.exe", a file. */
int cni_find_plugin(char *const *bin_dirs, const char *type, char **ret_path)
{
        for (size_t i = 0; bin_dirs && bin_dirs[i]; i++) {
                _cleanup_free_ char *exe = NULL;
                _cleanup_free_ wchar_t *w = NULL;
                char *p;
                DWORD attrs;

                if (asprintf(&exe, "%s.exe", type) < 0) {
                        exe = NULL; /* undefined after a failure */
                        return -ENOMEM;
                }
                p = cni_plat_path_join(bin_dirs[i], exe);
                if (!p)
                        return -ENOMEM;
                attrs = utf8_to_wide(p, UTF16_PATH_MAX, &w) < 0 ? INVALID_FILE_ATTRIBUTES
                                                                : GetFileAttributesW(w);
                if (attrs != INVALID_FILE_ATTRIBUTES && !(attrs & FILE_ATTRIBUTE_DIRECTORY)) {
                        *ret_path = p;
                        return 0;
                }
                free(p);
        }
        return -ENOENT;
}
