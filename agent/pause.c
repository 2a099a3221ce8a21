/*
 * uvmd-pause: PID 1 of a pod's shared PID namespace. It reaps what is
 * orphaned to it and does nothing else, for as long as the pod lives.
 *
 * Built freestanding (no libc, no dynamic loader) and run by the agent from
 * an in-memory copy, in an empty mount namespace, as nobody, with no
 * capabilities: every /proc/1/ link a container of the pod can follow (exe,
 * root, cwd, maps, mountinfo, environ) leads to nothing of the host.
 * x86_64 and aarch64 only: raw system calls.
 */

#include <linux/prctl.h>
#include <linux/time.h>
#include <linux/wait.h>
#include <asm/unistd.h>

#if defined(__x86_64__)
static long sys4(long n, long a, long b, long c, long d)
{
        long ret;
        register long r10 __asm__("r10") = d;

        __asm__ volatile("syscall"
                         : "=a"(ret)
                         : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                         : "rcx", "r11", "memory");
        return ret;
}
#elif defined(__aarch64__)
#define force_align_arg_pointer used
static long sys4(long n, long a, long b, long c, long d)
{
        register long x8 __asm__("x8") = n;
        register long x0 __asm__("x0") = a;
        register long x1 __asm__("x1") = b;
        register long x2 __asm__("x2") = c;
        register long x3 __asm__("x3") = d;

        __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
        return x0;
}
#else
#error "uvmd-pause: no system call stub for this architecture"
#endif

/* The kernel enters _start with the stack 16-byte aligned, not as a call. */
void _start(void) __attribute__((noreturn, force_align_arg_pointer));

void _start(void)
{
        unsigned long all = ~0UL;
        struct timespec second = {1, 0};

        /* exec made us dumpable again; a container must not read our memory. */
        sys4(__NR_prctl, PR_SET_DUMPABLE, 0, 0, 0);
        /* Blocked, no signal is delivered: nothing can stop or wake us but
         * SIGKILL, which only the agent (outside this namespace) can send. */
        sys4(__NR_rt_sigprocmask, 0 /* SIG_BLOCK */, (long) &all, 0, sizeof(all));
        for (;;)
                if (sys4(__NR_wait4, -1, 0, __WALL, 0) < 0) /* no children yet */
                        sys4(__NR_nanosleep, (long) &second, 0, 0, 0);
}
