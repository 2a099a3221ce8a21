/* The streaming server alone, on the local backend, for protocol tests with
 * real clients (the tests in tests/stream/):
 *
 *     harness [ADDRESS [CERT KEY [TTL_MS]]]
 *
 * prints "ADDR host:port", then reads commands, one per line, answering each
 * with one line:
 *     exec TTY STDIN STDOUT STDERR ARGV...   -> the URL (flags 0 or 1)
 *     attach CONTAINER                       -> the URL (the backend refuses)
 *     portforward PORT...                    -> the URL
 *     sessions                               -> how many run now
 * and stops (every session ended) at EOF. */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "tests/stream/local_backend.h"

#define MAX_WORDS 64

static void answer(struct stream_server *s, char **w, int n)
{
        struct token_request req = {0};
        int32_t ports[MAX_WORDS];
        struct uvm_error *err = NULL;
        char *url = NULL;

        if (n >= 6 && strcmp(w[0], "exec") == 0) {
                req.kind = TOKEN_EXEC;
                req.container_id = "local";
                req.tty = atoi(w[1]);
                req.want_stdin = atoi(w[2]);
                req.want_stdout = atoi(w[3]);
                req.want_stderr = atoi(w[4]);
                req.argv = w + 5;
        } else if (n == 2 && strcmp(w[0], "attach") == 0) {
                req.kind = TOKEN_ATTACH;
                req.container_id = w[1];
                req.want_stdout = true;
        } else if (n >= 2 && strcmp(w[0], "portforward") == 0) {
                req.kind = TOKEN_PORT_FORWARD;
                req.pod_id = "local";
                for (int i = 1; i < n; i++)
                        ports[i - 1] = atoi(w[i]);
                req.ports = ports;
                req.n_ports = (size_t) n - 1;
        } else if (n == 1 && strcmp(w[0], "sessions") == 0) {
                printf("%u\n", stream_server_sessions(s));
                return;
        } else {
                printf("ERROR unknown command\n");
                return;
        }
        if (stream_server_url(s, &req, &url, &err) < 0)
                printf("ERROR %s\n", err->msg);
        else
                printf("%s\n", url);
        free(url);
        uvm_error_free(err);
}

int main(int argc, char **argv)
{
        struct stream_config cfg = {
                .address = argc > 1 ? argv[1] : "127.0.0.1:0",
                .tls_cert = argc > 3 ? argv[2] : NULL,
                .tls_key = argc > 3 ? argv[3] : NULL,
                .token_ttl_ms = argc > 4 ? (unsigned) atoi(argv[4]) : 0,
        };
        struct stream_server *s = NULL;
        struct uvm_error *err = NULL;
        char line[8192];

        setvbuf(stdout, NULL, _IOLBF, 0);
        if (stream_server_start(&cfg, &local_backend, &s, &err) < 0) {
                fprintf(stderr, "harness: %s\n", err->msg);
                return 1;
        }
        printf("ADDR %s\n", stream_server_address(s));
        while (fgets(line, sizeof(line), stdin)) {
                char *w[MAX_WORDS + 1], *save = NULL;
                int n = 0;

                for (char *t = strtok_r(line, " \t\n", &save); t && n < MAX_WORDS;
                     t = strtok_r(NULL, " \t\n", &save))
                        w[n++] = t;
                w[n] = NULL;
                if (n > 0)
                        answer(s, w, n);
        }
        stream_server_stop(s);
        return 0;
}
