/* The RuntimeDefault profile: its names against containerd's amd64 default
 * (every difference justified in docs/seccomp.md), and the OCI object it
 * becomes for a container's capabilities. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "common/fs.h"
#include "common/macros.h"
#include "sandbox/seccomp-internal.h"
#include "sandbox/seccomp.h"

/* containerd's amd64 default profile: what every container may call
 * (including "ptrace", which it adds on kernels from 4.8), and what a
 * capability unlocks. Reference data for the comparison. */
static const char *const containerd_allowed[] = {"accept",
                                                 "accept4",
                                                 "access",
                                                 "adjtimex",
                                                 "alarm",
                                                 "bind",
                                                 "brk",
                                                 "capget",
                                                 "capset",
                                                 "chdir",
                                                 "chmod",
                                                 "chown",
                                                 "chown32",
                                                 "clock_adjtime",
                                                 "clock_adjtime64",
                                                 "clock_getres",
                                                 "clock_getres_time64",
                                                 "clock_gettime",
                                                 "clock_gettime64",
                                                 "clock_nanosleep",
                                                 "clock_nanosleep_time64",
                                                 "close",
                                                 "close_range",
                                                 "connect",
                                                 "copy_file_range",
                                                 "creat",
                                                 "dup",
                                                 "dup2",
                                                 "dup3",
                                                 "epoll_create",
                                                 "epoll_create1",
                                                 "epoll_ctl",
                                                 "epoll_ctl_old",
                                                 "epoll_pwait",
                                                 "epoll_pwait2",
                                                 "epoll_wait",
                                                 "epoll_wait_old",
                                                 "eventfd",
                                                 "eventfd2",
                                                 "execve",
                                                 "execveat",
                                                 "exit",
                                                 "exit_group",
                                                 "faccessat",
                                                 "faccessat2",
                                                 "fadvise64",
                                                 "fadvise64_64",
                                                 "fallocate",
                                                 "fanotify_mark",
                                                 "fchdir",
                                                 "fchmod",
                                                 "fchmodat",
                                                 "fchown",
                                                 "fchown32",
                                                 "fchownat",
                                                 "fcntl",
                                                 "fcntl64",
                                                 "fdatasync",
                                                 "fgetxattr",
                                                 "flistxattr",
                                                 "flock",
                                                 "fork",
                                                 "fremovexattr",
                                                 "fsetxattr",
                                                 "fstat",
                                                 "fstat64",
                                                 "fstatat64",
                                                 "fstatfs",
                                                 "fstatfs64",
                                                 "fsync",
                                                 "ftruncate",
                                                 "ftruncate64",
                                                 "futex",
                                                 "futex_time64",
                                                 "futex_waitv",
                                                 "futimesat",
                                                 "getcpu",
                                                 "getcwd",
                                                 "getdents",
                                                 "getdents64",
                                                 "getegid",
                                                 "getegid32",
                                                 "geteuid",
                                                 "geteuid32",
                                                 "getgid",
                                                 "getgid32",
                                                 "getgroups",
                                                 "getgroups32",
                                                 "getitimer",
                                                 "getpeername",
                                                 "getpgid",
                                                 "getpgrp",
                                                 "getpid",
                                                 "getppid",
                                                 "getpriority",
                                                 "getrandom",
                                                 "getresgid",
                                                 "getresgid32",
                                                 "getresuid",
                                                 "getresuid32",
                                                 "getrlimit",
                                                 "get_robust_list",
                                                 "getrusage",
                                                 "getsid",
                                                 "getsockname",
                                                 "getsockopt",
                                                 "get_thread_area",
                                                 "gettid",
                                                 "gettimeofday",
                                                 "getuid",
                                                 "getuid32",
                                                 "getxattr",
                                                 "inotify_add_watch",
                                                 "inotify_init",
                                                 "inotify_init1",
                                                 "inotify_rm_watch",
                                                 "io_cancel",
                                                 "ioctl",
                                                 "io_destroy",
                                                 "io_getevents",
                                                 "io_pgetevents",
                                                 "io_pgetevents_time64",
                                                 "ioprio_get",
                                                 "ioprio_set",
                                                 "io_setup",
                                                 "io_submit",
                                                 "io_uring_enter",
                                                 "io_uring_register",
                                                 "io_uring_setup",
                                                 "ipc",
                                                 "kill",
                                                 "landlock_add_rule",
                                                 "landlock_create_ruleset",
                                                 "landlock_restrict_self",
                                                 "lchown",
                                                 "lchown32",
                                                 "lgetxattr",
                                                 "link",
                                                 "linkat",
                                                 "listen",
                                                 "listxattr",
                                                 "llistxattr",
                                                 "_llseek",
                                                 "lremovexattr",
                                                 "lseek",
                                                 "lsetxattr",
                                                 "lstat",
                                                 "lstat64",
                                                 "madvise",
                                                 "membarrier",
                                                 "memfd_create",
                                                 "memfd_secret",
                                                 "mincore",
                                                 "mkdir",
                                                 "mkdirat",
                                                 "mknod",
                                                 "mknodat",
                                                 "mlock",
                                                 "mlock2",
                                                 "mlockall",
                                                 "mmap",
                                                 "mmap2",
                                                 "mprotect",
                                                 "mq_getsetattr",
                                                 "mq_notify",
                                                 "mq_open",
                                                 "mq_timedreceive",
                                                 "mq_timedreceive_time64",
                                                 "mq_timedsend",
                                                 "mq_timedsend_time64",
                                                 "mq_unlink",
                                                 "mremap",
                                                 "msgctl",
                                                 "msgget",
                                                 "msgrcv",
                                                 "msgsnd",
                                                 "msync",
                                                 "munlock",
                                                 "munlockall",
                                                 "munmap",
                                                 "nanosleep",
                                                 "newfstatat",
                                                 "_newselect",
                                                 "open",
                                                 "openat",
                                                 "openat2",
                                                 "pause",
                                                 "pidfd_open",
                                                 "pidfd_send_signal",
                                                 "pipe",
                                                 "pipe2",
                                                 "poll",
                                                 "ppoll",
                                                 "ppoll_time64",
                                                 "prctl",
                                                 "pread64",
                                                 "preadv",
                                                 "preadv2",
                                                 "prlimit64",
                                                 "process_mrelease",
                                                 "pselect6",
                                                 "pselect6_time64",
                                                 "pwrite64",
                                                 "pwritev",
                                                 "pwritev2",
                                                 "read",
                                                 "readahead",
                                                 "readlink",
                                                 "readlinkat",
                                                 "readv",
                                                 "recv",
                                                 "recvfrom",
                                                 "recvmmsg",
                                                 "recvmmsg_time64",
                                                 "recvmsg",
                                                 "remap_file_pages",
                                                 "removexattr",
                                                 "rename",
                                                 "renameat",
                                                 "renameat2",
                                                 "restart_syscall",
                                                 "rmdir",
                                                 "rseq",
                                                 "rt_sigaction",
                                                 "rt_sigpending",
                                                 "rt_sigprocmask",
                                                 "rt_sigqueueinfo",
                                                 "rt_sigreturn",
                                                 "rt_sigsuspend",
                                                 "rt_sigtimedwait",
                                                 "rt_sigtimedwait_time64",
                                                 "rt_tgsigqueueinfo",
                                                 "sched_getaffinity",
                                                 "sched_getattr",
                                                 "sched_getparam",
                                                 "sched_get_priority_max",
                                                 "sched_get_priority_min",
                                                 "sched_getscheduler",
                                                 "sched_rr_get_interval",
                                                 "sched_rr_get_interval_time64",
                                                 "sched_setaffinity",
                                                 "sched_setattr",
                                                 "sched_setparam",
                                                 "sched_setscheduler",
                                                 "sched_yield",
                                                 "seccomp",
                                                 "select",
                                                 "semctl",
                                                 "semget",
                                                 "semop",
                                                 "semtimedop",
                                                 "semtimedop_time64",
                                                 "send",
                                                 "sendfile",
                                                 "sendfile64",
                                                 "sendmmsg",
                                                 "sendmsg",
                                                 "sendto",
                                                 "setfsgid",
                                                 "setfsgid32",
                                                 "setfsuid",
                                                 "setfsuid32",
                                                 "setgid",
                                                 "setgid32",
                                                 "setgroups",
                                                 "setgroups32",
                                                 "setitimer",
                                                 "setpgid",
                                                 "setpriority",
                                                 "setregid",
                                                 "setregid32",
                                                 "setresgid",
                                                 "setresgid32",
                                                 "setresuid",
                                                 "setresuid32",
                                                 "setreuid",
                                                 "setreuid32",
                                                 "setrlimit",
                                                 "set_robust_list",
                                                 "setsid",
                                                 "setsockopt",
                                                 "set_thread_area",
                                                 "set_tid_address",
                                                 "setuid",
                                                 "setuid32",
                                                 "setxattr",
                                                 "shmat",
                                                 "shmctl",
                                                 "shmdt",
                                                 "shmget",
                                                 "shutdown",
                                                 "sigaltstack",
                                                 "signalfd",
                                                 "signalfd4",
                                                 "sigprocmask",
                                                 "sigreturn",
                                                 "socket",
                                                 "socketcall",
                                                 "socketpair",
                                                 "splice",
                                                 "stat",
                                                 "stat64",
                                                 "statfs",
                                                 "statfs64",
                                                 "statx",
                                                 "symlink",
                                                 "symlinkat",
                                                 "sync",
                                                 "sync_file_range",
                                                 "syncfs",
                                                 "sysinfo",
                                                 "tee",
                                                 "tgkill",
                                                 "time",
                                                 "timer_create",
                                                 "timer_delete",
                                                 "timer_getoverrun",
                                                 "timer_gettime",
                                                 "timer_gettime64",
                                                 "timer_settime",
                                                 "timer_settime64",
                                                 "timerfd_create",
                                                 "timerfd_gettime",
                                                 "timerfd_gettime64",
                                                 "timerfd_settime",
                                                 "timerfd_settime64",
                                                 "times",
                                                 "tkill",
                                                 "truncate",
                                                 "truncate64",
                                                 "ugetrlimit",
                                                 "umask",
                                                 "uname",
                                                 "unlink",
                                                 "unlinkat",
                                                 "utime",
                                                 "utimensat",
                                                 "utimensat_time64",
                                                 "utimes",
                                                 "vfork",
                                                 "vmsplice",
                                                 "wait4",
                                                 "waitid",
                                                 "waitpid",
                                                 "write",
                                                 "writev",
                                                 "ptrace",
                                                 "arch_prctl",
                                                 "modify_ldt",
                                                 NULL};

static const char *const containerd_gated[] = {"open_by_handle_at",
                                               "bpf",
                                               "clone",
                                               "clone3",
                                               "fanotify_init",
                                               "fsconfig",
                                               "fsmount",
                                               "fsopen",
                                               "fspick",
                                               "lookup_dcookie",
                                               "mount",
                                               "mount_setattr",
                                               "move_mount",
                                               "name_to_handle_at",
                                               "open_tree",
                                               "perf_event_open",
                                               "quotactl",
                                               "quotactl_fd",
                                               "setdomainname",
                                               "sethostname",
                                               "setns",
                                               "syslog",
                                               "umount",
                                               "umount2",
                                               "unshare",
                                               "reboot",
                                               "chroot",
                                               "delete_module",
                                               "init_module",
                                               "finit_module",
                                               "acct",
                                               "kcmp",
                                               "pidfd_getfd",
                                               "process_madvise",
                                               "process_vm_readv",
                                               "process_vm_writev",
                                               "ptrace",
                                               "iopl",
                                               "ioperm",
                                               "settimeofday",
                                               "stime",
                                               "clock_settime",
                                               "clock_settime64",
                                               "vhangup",
                                               NULL};

static bool in(const char *const *v, const char *name)
{
        for (; *v; v++)
                if (strcmp(*v, name) == 0)
                        return true;
        return false;
}

/* Whether docs/seccomp.md lists name ("- `name`:") under the heading. */
static bool justified(const char *doc, const char *heading, const char *name)
{
        const char *sec = strstr(doc, heading), *end;
        char item[96];

        if (!sec)
                return false;
        end = strstr(sec + strlen(heading), "\n## ");
        snprintf(item, sizeof(item), "\n- `%s`:", name);
        sec = strstr(sec, item);
        return sec && (!end || sec < end);
}

static void test_names_match_containerd(void **state)
{
        _cleanup_free_ char *doc = NULL;

        assert_int_equal(fs_read_file("docs/seccomp.md", 1 << 20, &doc, NULL), 0);
        for (const char *const *n = seccomp_default_allowed; *n; n++)
                if (!in(containerd_allowed, *n) && !justified(doc, "## Added", *n))
                        fail_msg("allowed \"%s\" is beyond containerd's default and "
                                 "docs/seccomp.md does not justify it",
                                 *n);
        for (const struct seccomp_gate *g = seccomp_default_gates; g->cap >= 0; g++)
                for (const char *const *n = g->names; *n; n++)
                        if (!in(containerd_gated, *n) && !justified(doc, "## Added", *n))
                                fail_msg("gated \"%s\" is not gated in containerd's", *n);
        for (const char *const *n = containerd_allowed; *n; n++)
                if (!in(seccomp_default_allowed, *n) && !justified(doc, "## Left out", *n))
                        fail_msg("containerd allows \"%s\"; docs/seccomp.md must say why we "
                                 "do not",
                                 *n);
}

static json_object *runtime_default(uint64_t caps)
{
        Runtime__V1__LinuxContainerSecurityContext sc =
                RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
        Runtime__V1__SecurityProfile p = RUNTIME__V1__SECURITY_PROFILE__INIT;
        json_object *o = NULL;

        p.profile_type = RUNTIME__V1__SECURITY_PROFILE__PROFILE_TYPE__RuntimeDefault;
        sc.seccomp = &p;
        assert_int_equal(seccomp_profile(&sc, caps, &o, NULL), 0);
        assert_non_null(o);
        return o;
}

/* The action for name with no argument rule, or NULL; *errno_ret set. */
static const char *action_of(json_object *o, const char *name, int *errno_ret, bool *has_args)
{
        json_object *rules = json_object_object_get(o, "syscalls");

        for (size_t i = 0; i < json_object_array_length(rules); i++) {
                json_object *r = json_object_array_get_idx(rules, i),
                            *names = json_object_object_get(r, "names");
                for (size_t k = 0; k < json_object_array_length(names); k++)
                        if (strcmp(json_object_get_string(json_object_array_get_idx(names, k)),
                                   name) == 0) {
                                json_object *e = json_object_object_get(r, "errnoRet");
                                *errno_ret = e ? json_object_get_int(e) : 0;
                                *has_args = json_object_object_get(r, "args") != NULL;
                                return json_object_get_string(json_object_object_get(r, "action"));
                        }
        }
        return NULL;
}

#define CAP(n) ((uint64_t) 1 << (n))

static void test_profile_for_capabilities(void **state)
{
        uint64_t defaults = CAP(0) | CAP(1) | CAP(3) | CAP(4) | CAP(5) | CAP(6) | CAP(7) | CAP(8) |
                            CAP(10) | CAP(13) | CAP(18) | CAP(27) | CAP(29) | CAP(31);
        json_object *o = runtime_default(defaults);
        int e = 0;
        bool args = false;

        assert_string_equal(json_object_get_string(json_object_object_get(o, "defaultAction")),
                            "SCMP_ACT_ERRNO");
        assert_int_equal(json_object_get_int(json_object_object_get(o, "defaultErrnoRet")), 1);
        assert_string_equal(action_of(o, "read", &e, &args), "SCMP_ACT_ALLOW");
        assert_string_equal(action_of(o, "chroot", &e, &args), "SCMP_ACT_ALLOW"); /* SYS_CHROOT */
        assert_null(action_of(o, "ptrace", &e, &args));
        assert_null(action_of(o, "io_uring_setup", &e, &args));
        assert_null(action_of(o, "unshare", &e, &args));
        assert_null(action_of(o, "keyctl", &e, &args));
        assert_string_equal(action_of(o, "clone", &e, &args), "SCMP_ACT_ALLOW");
        assert_true(args); /* only without namespace flags */
        assert_string_equal(action_of(o, "clone3", &e, &args), "SCMP_ACT_ERRNO");
        assert_int_equal(e, 38 /* ENOSYS */);
        json_object_put(o);

        o = runtime_default(defaults | CAP(19) | CAP(21));
        assert_string_equal(action_of(o, "ptrace", &e, &args), "SCMP_ACT_ALLOW");
        assert_string_equal(action_of(o, "unshare", &e, &args), "SCMP_ACT_ALLOW");
        assert_string_equal(action_of(o, "clone3", &e, &args), "SCMP_ACT_ALLOW");
        assert_false(args);
        json_object_put(o);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names_match_containerd),
                cmocka_unit_test(test_profile_for_capabilities),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}
