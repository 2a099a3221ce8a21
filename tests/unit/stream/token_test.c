/* Streaming tokens: format, single use, deep copies, expiry on a fake clock,
 * the bound, and two threads racing to redeem one token. */

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "stream/token.h"

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
        return fake_now;
}

static struct token_request exec_request(char **argv)
{
        return (struct token_request){
                .kind = TOKEN_EXEC,
                .container_id = "ctr-1",
                .argv = argv,
                .tty = true,
                .want_stdin = true,
                .want_stdout = true,
        };
}

static void check_token_format(const char *token)
{
        assert_int_equal(strlen(token), TOKEN_LEN);
        for (const char *s = token; *s; s++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", *s))
                        fail_msg("token \"%s\" has '%c', not base64url", token, *s);
}

static void single_use(void **state)
{
        char *argv[] = {"sh", "-c", "echo hi", NULL};
        struct token_request req = exec_request(argv), *got = NULL;
        struct token_table *t = token_table_new(8, 60000, NULL);
        struct uvm_error *err = NULL;
        char token[TOKEN_LEN + 1];

        assert_int_equal(token_issue(t, &req, token, NULL), 0);
        check_token_format(token);
        assert_int_equal(token_outstanding(t), 1);
        assert_int_equal(token_redeem(t, token, &got, NULL), 0);
        assert_int_equal(token_outstanding(t), 0);
        assert_int_equal(got->kind, TOKEN_EXEC);
        assert_string_equal(got->container_id, "ctr-1");
        assert_null(got->pod_id);
        assert_string_equal(got->argv[0], "sh");
        assert_string_equal(got->argv[2], "echo hi");
        assert_null(got->argv[3]);
        assert_true(got->tty && got->want_stdin && got->want_stdout && !got->want_stderr);
        assert_null(got->ports);
        token_request_free(got);
        got = NULL;

        assert_int_equal(token_redeem(t, token, &got, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "already used"));
        assert_null(got);
        uvm_error_free(err);
        token_table_free(t);
}

static void deep_copies(void **state)
{
        char arg0[] = "ls", *argv[] = {arg0, NULL};
        int32_t ports[] = {80, 8080, 65535};
        struct token_request pf = {
                .kind = TOKEN_PORT_FORWARD, .pod_id = "pod-9", .ports = ports, .n_ports = 3};
        struct token_request ex = exec_request(argv), *got = NULL, *copy = NULL;
        struct token_table *t = token_table_new(8, 60000, NULL);
        char tok_ex[TOKEN_LEN + 1], tok_pf[TOKEN_LEN + 1];

        assert_int_equal(token_issue(t, &ex, tok_ex, NULL), 0);
        assert_int_equal(token_issue(t, &pf, tok_pf, NULL), 0);
        assert_string_not_equal(tok_ex, tok_pf);
        /* The caller's request may change or go away after issuing. */
        arg0[0] = 'X';
        ports[0] = 1;
        assert_int_equal(token_redeem(t, tok_pf, &got, NULL), 0);
        assert_int_equal(got->kind, TOKEN_PORT_FORWARD);
        assert_string_equal(got->pod_id, "pod-9");
        assert_null(got->container_id);
        assert_null(got->argv);
        assert_int_equal(got->n_ports, 3);
        assert_int_equal(got->ports[0], 80);
        assert_int_equal(got->ports[2], 65535);
        token_request_free(got);
        assert_int_equal(token_redeem(t, tok_ex, &got, NULL), 0);
        assert_string_equal(got->argv[0], "ls");
        /* token_request_copy on its own. */
        assert_int_equal(token_request_copy(got, &copy, NULL), 0);
        assert_ptr_not_equal(copy->argv, got->argv);
        assert_string_equal(copy->argv[0], "ls");
        token_request_free(got);
        token_request_free(copy);
        assert_null(token_request_free(NULL));
        token_table_free(t);
}

static void unknown_tokens(void **state)
{
        struct token_request req = exec_request(NULL), *got = NULL;
        struct token_table *t = token_table_new(4, 60000, NULL);
        char token[TOKEN_LEN + 1], wrong[TOKEN_LEN + 2];

        assert_int_equal(token_issue(t, &req, token, NULL), 0);
        assert_int_equal(token_redeem(t, "", &got, NULL), -ENOENT);
        assert_int_equal(token_redeem(t, "short", &got, NULL), -ENOENT);
        /* One character off, at either end. */
        for (size_t pos = 0; pos < TOKEN_LEN; pos += TOKEN_LEN - 1) {
                strcpy(wrong, token);
                wrong[pos] = wrong[pos] == 'A' ? 'B' : 'A';
                assert_int_equal(token_redeem(t, wrong, &got, NULL), -ENOENT);
        }
        /* A prefix match with one more character is not the token. */
        snprintf(wrong, sizeof(wrong), "%sA", token);
        assert_int_equal(token_redeem(t, wrong, &got, NULL), -ENOENT);
        assert_null(got);
        /* Failed guesses do not consume the real token. */
        assert_int_equal(token_redeem(t, token, &got, NULL), 0);
        token_request_free(got);
        token_table_free(t);
}

static void expiry(void **state)
{
        struct token_request req = exec_request(NULL), *got = NULL;
        struct token_table *t = token_table_new(4, 500, fake_clock);
        struct uvm_error *err = NULL;
        char a[TOKEN_LEN + 1], b[TOKEN_LEN + 1];

        fake_now = 1000;
        assert_int_equal(token_issue(t, &req, a, NULL), 0);
        assert_int_equal(token_issue(t, &req, b, NULL), 0);
        fake_now = 1499;
        assert_int_equal(token_redeem(t, a, &got, NULL), 0);
        token_request_free(got);
        got = NULL;
        fake_now = 1500;
        assert_int_equal(token_redeem(t, b, &got, &err), -ENOENT);
        assert_non_null(strstr(err->msg, "expired"));
        assert_null(got);
        uvm_error_free(err);
        /* An expired token is gone, not merely refused. */
        assert_int_equal(token_outstanding(t), 0);
        token_table_free(t);

        /* A ttl beyond the clock's range never expires (no wrap-around). */
        t = token_table_new(1, UINT64_MAX, fake_clock);
        assert_int_equal(token_issue(t, &req, a, NULL), 0);
        fake_now = UINT64_MAX - 1;
        assert_int_equal(token_redeem(t, a, &got, NULL), 0);
        token_request_free(got);
        token_table_free(t);
}

static void bounded(void **state)
{
        struct token_request req = exec_request(NULL), *got = NULL;
        struct token_table *t = token_table_new(3, 100, fake_clock);
        struct uvm_error *err = NULL;
        char tok[5][TOKEN_LEN + 1];

        assert_null(token_table_new(0, 100, NULL));
        fake_now = 0;
        assert_int_equal(token_issue(t, &req, tok[0], NULL), 0);
        fake_now = 50;
        assert_int_equal(token_issue(t, &req, tok[1], NULL), 0);
        assert_int_equal(token_issue(t, &req, tok[2], NULL), 0);
        assert_int_equal(token_issue(t, &req, tok[3], &err), -EBUSY);
        assert_non_null(strstr(err->msg, "3 streaming tokens"));
        err = uvm_error_free(err);
        /* Full, but the first has expired: it makes room. */
        fake_now = 100;
        assert_int_equal(token_issue(t, &req, tok[3], NULL), 0);
        assert_int_equal(token_outstanding(t), 3);
        assert_int_equal(token_redeem(t, tok[0], &got, NULL), -ENOENT);
        assert_int_equal(token_issue(t, &req, tok[4], NULL), -EBUSY);
        /* Redeeming frees a slot too. */
        assert_int_equal(token_redeem(t, tok[1], &got, NULL), 0);
        token_request_free(got);
        assert_int_equal(token_issue(t, &req, tok[4], NULL), 0);
        /* Freeing a table with outstanding tokens frees their requests. */
        token_table_free(t);
}

static void tokens_differ(void **state)
{
        struct token_request req = exec_request(NULL);
        struct token_table *t = token_table_new(64, 60000, NULL);
        char tok[64][TOKEN_LEN + 1];

        for (size_t i = 0; i < 64; i++) {
                assert_int_equal(token_issue(t, &req, tok[i], NULL), 0);
                check_token_format(tok[i]);
                for (size_t j = 0; j < i; j++)
                        assert_string_not_equal(tok[i], tok[j]);
        }
        token_table_free(t);
}

struct race {
        struct token_table *table;
        const char *token;
        pthread_barrier_t *start;
        int result;
};

static void *redeem_thread(void *arg)
{
        struct race *r = arg;
        struct token_request *got = NULL;

        pthread_barrier_wait(r->start);
        r->result = token_redeem(r->table, r->token, &got, NULL);
        token_request_free(got);
        return NULL;
}

static void concurrent_redeem(void **state)
{
        struct token_request req = exec_request(NULL);
        struct token_table *t = token_table_new(4, 60000, NULL);
        pthread_barrier_t start;

        for (int round = 0; round < 500; round++) {
                char token[TOKEN_LEN + 1];
                struct race races[2];
                pthread_t threads[2];

                assert_int_equal(token_issue(t, &req, token, NULL), 0);
                assert_int_equal(pthread_barrier_init(&start, NULL, 2), 0);
                for (int i = 0; i < 2; i++) {
                        races[i] = (struct race){t, token, &start, 1};
                        assert_int_equal(
                                pthread_create(&threads[i], NULL, redeem_thread, &races[i]), 0);
                }
                for (int i = 0; i < 2; i++)
                        pthread_join(threads[i], NULL);
                pthread_barrier_destroy(&start);
                assert_true((races[0].result == 0 && races[1].result == -ENOENT) ||
                            (races[0].result == -ENOENT && races[1].result == 0));
        }
        assert_int_equal(token_outstanding(t), 0);
        token_table_free(t);
}

int main(void)
{
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(single_use),        cmocka_unit_test(deep_copies),
                cmocka_unit_test(unknown_tokens),    cmocka_unit_test(expiry),
                cmocka_unit_test(bounded),           cmocka_unit_test(tokens_differ),
                cmocka_unit_test(concurrent_redeem),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
