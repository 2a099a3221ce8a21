/*
 * The agent "in" the fake HCS's VMs (tests/windows/uvmd_pods_test.sh): a
 * Linux program listening on 127.0.0.1, serving each connection uvmd.exe's
 * bridge makes (hcs_bridge_address) with the scripted agent the hcs
 * driver's unit tests use (tests/unit/agent/fake_agent.h). Prints
 * "port N" once listening and "connection N" per connection, so the test
 * sees uvmd.exe reconnect after a restart. Runs until killed.
 */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/agent/fake_agent.h"

int main(void)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), n = 0;

        if (s < 0 || bind(s, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(s, 16) < 0 ||
            getsockname(s, (struct sockaddr *) &a, &len) < 0) {
                perror("agent_server");
                return 1;
        }
        printf("port %u\n", ntohs(a.sin_port));
        fflush(stdout);
        for (;;) {
                int fd = accept4(s, NULL, NULL, SOCK_CLOEXEC);

                if (fd < 0) {
                        perror("accept");
                        continue;
                }
                /* Each VM's agent lives until the far end closes; it is
                 * not freed here: the process ends with the test. */
                fake_agent_start(fd);
                printf("connection %d\n", ++n);
                fflush(stdout);
        }
}
