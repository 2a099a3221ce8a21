/*
 * The pod sandbox process for containerd in the side-by-side benchmark (its
 * sandbox_image), built static and put alone in a one-layer image: it waits
 * for signals, reaps children when it is PID 1 of a shared PID namespace,
 * and exits on SIGINT or SIGTERM.
 */

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

int main(void)
{
        sigset_t set;
        int sig;

        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        sigaddset(&set, SIGCHLD);
        sigprocmask(SIG_BLOCK, &set, NULL);
        for (;;) {
                if (sigwait(&set, &sig) != 0)
                        continue;
                if (sig != SIGCHLD)
                        return 0;
                while (waitpid(-1, NULL, WNOHANG) > 0)
                        ;
        }
}
