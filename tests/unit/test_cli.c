/* Unit tests for cli.c: the listener address both HTTP servers parse
 * (data plane --http-listen, control plane --http-listen). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "cli.h"

static void test_cli_parse_listen_ipv4_localhost_and_ipv6(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char err[256];
    assert_int_equal(cli_parse_listen("--x", "127.0.0.1:8080", &ss, err, sizeof(err)), 0);
    assert_int_equal(ss.ss_family, AF_INET);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 8080);
    assert_int_equal(cli_parse_listen("--x", "localhost:0", &ss, err, sizeof(err)), 0);
    assert_int_equal(((struct sockaddr_in *)&ss)->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
    assert_int_equal(cli_parse_listen("--x", "[::1]:65535", &ss, err, sizeof(err)), 0);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), 65535);
}

static void test_cli_parse_listen_refuses_naming_the_flag(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    char err[256];
    const char *bad[] = {"nowhere",      "127.0.0.1",   "127.0.0.1:", "127.0.0.1:65536",
                         "127.0.0.1:-1", "1.2.3:80",    "[::1:80",    "example.com:80",
                         ":80",          "127.0.0.1:8x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(cli_parse_listen("--http-listen", bad[i], &ss, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "--http-listen: expected HOST:PORT"));
        assert_non_null(strstr(err, bad[i]));
    }
    assert_int_equal(cli_parse_listen("--http-listen", NULL, &ss, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_parse_listen_ipv4_localhost_and_ipv6),
        cmocka_unit_test(test_cli_parse_listen_refuses_naming_the_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
