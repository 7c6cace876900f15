#include "emailaddr.h"
#include "testutil.h"

#include <json-c/json.h>
#include <stdlib.h>

static void expect_ok(const char *addr)
{
    char err[128] = "";
    int rc = emailaddr_validate(addr, strlen(addr), err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "  rejected '%s': %s\n", addr, err);
        testutil_case_failed = 1;
    }
}

static void expect_bad_len(const char *addr, size_t len, const char *rule)
{
    char err[128] = "";
    int rc = emailaddr_validate(addr, len, err, sizeof(err));
    if (rc != EMAILADDR_ERR_ADDRESS || strcmp(err, rule) != 0) {
        fprintf(stderr, "  '%.60s': rc %d err '%s', expected '%s'\n", addr, rc, err, rule);
        testutil_case_failed = 1;
    }
}

static void expect_bad(const char *addr, const char *rule)
{
    expect_bad_len(addr, strlen(addr), rule);
}

/* "<n x 'a'>" followed by suffix, in a static buffer. */
static const char *pad(size_t n, const char *suffix)
{
    static char buf[600];
    memset(buf, 'a', n);
    snprintf(buf + n, sizeof(buf) - n, "%s", suffix);
    return buf;
}

/* 64 octets of local part, '@', then labels of 63 + 63 + last_label octets: 64 + 1 + 63 +
 * 1 + 63 + 1 + last_label in all. */
static const char *long_address(size_t last_label)
{
    static char buf[300];
    size_t n = 0;
    memset(buf, 'a', 64);
    n = 64;
    buf[n++] = '@';
    memset(buf + n, 'b', 63);
    n += 63;
    buf[n++] = '.';
    memset(buf + n, 'c', 63);
    n += 63;
    buf[n++] = '.';
    memset(buf + n, 'd', last_label);
    n += last_label;
    buf[n] = '\0';
    return buf;
}

static void test_valid(void)
{
    expect_ok("user@example.com");
    expect_ok("first.last+tag@sub.example.co.uk");
    expect_ok("!#$%&'*+-/=?^_`{|}~@example.org");
    expect_ok("\"john doe\"@example.org");
    expect_ok("\"a,b\\\"c\"@example.org");
    expect_ok("\"\"@example.org");
    expect_ok("user@localhost");
    expect_ok("user@xn--bcher-kva.example");
    expect_ok("user@a-b.example");
    expect_ok("user@[192.0.2.1]");
    expect_ok("user@[IPv6:2001:db8::1]");
    expect_ok(pad(64, "@example.com"));
    expect_ok(long_address(61)); /* 254 octets: the longest */
}

static void test_invalid(void)
{
    expect_bad("", "address must not be empty");
    expect_bad("user@exa\r\nmple.com", "must not contain CR or LF");
    expect_bad("user@example.com\nBcc: x@evil.example", "must not contain CR or LF");
    expect_bad_len("user@exa\0mple.com", 17, "must not contain NUL");
    expect_bad("user\t@example.com", "must not contain control characters");
    expect_bad("user\x7f@example.com", "must not contain control characters");
    expect_bad("us\xc3\xa9r@example.com",
               "must be ASCII (internationalised addresses are not supported)");
    expect_bad("userexample.com", "missing '@'");
    expect_bad("@example.com", "local part must not be empty");
    expect_bad(".user@example.com", "local part must not start with '.'");
    expect_bad("user.@example.com", "local part must not end with '.'");
    expect_bad("us..er@example.com", "local part must not contain '..'");
    expect_bad("john doe@example.com", "local part contains a character that needs quoting");
    expect_bad("a,b@example.com", "local part contains a character that needs quoting");
    expect_bad("Name <user@example.com>", "local part contains a character that needs quoting");
    expect_bad("\"unclosed@example.com", "quoted local part is not closed");
    expect_bad("\"ab\"c@example.com", "quoted local part must be followed by '@'");
    expect_bad(pad(65, "@example.com"), "local part longer than 64 octets");
    expect_bad("user@", "domain must not be empty");
    expect_bad("user@example..com", "domain contains an empty label");
    expect_bad("user@.example.com", "domain contains an empty label");
    expect_bad("user@example.com.", "domain contains an empty label");
    expect_bad("user@-example.com", "domain label must not start with '-'");
    expect_bad("user@example-.com", "domain label must not end with '-'");
    expect_bad("user@exa_mple.com", "domain may contain only letters, digits, '-' and '.'");
    expect_bad("user@b@example.com", "domain may contain only letters, digits, '-' and '.'");
    expect_bad("user@[300.0.0.1]", "domain literal is not an IPv4 or IPv6 address");
    expect_bad("user@[2001:db8::1]", "domain literal is not an IPv4 or IPv6 address");
    expect_bad("user@[192.0.2.1", "domain literal must end with ']'");
    {
        char addr[100];
        snprintf(addr, sizeof(addr), "u@%s", pad(64, ".example"));
        expect_bad(addr, "domain label longer than 63 octets");
    }
    expect_bad(long_address(62), "longer than 254 octets");
}

static json_object *parse(const char *text)
{
    json_object *v = json_tokener_parse(text);
    if (v == NULL)
        abort();
    return v;
}

static void expect_list(const char *json, size_t count, const char *first, const char *last)
{
    emailaddr_list_t list;
    char err[256] = "";
    json_object *v = parse(json);
    emailaddr_list_init(&list);
    int rc = emailaddr_list_add_json(&list, "payload.cc", v, err, sizeof(err));
    if (rc != 0 || list.count != count ||
        (count > 0 &&
         (strcmp(list.addrs[0], first) != 0 || strcmp(list.addrs[count - 1], last) != 0))) {
        fprintf(stderr, "  %s: rc %d (%s) count %zu\n", json, rc, err, list.count);
        testutil_case_failed = 1;
    }
    emailaddr_list_clear(&list);
    CHECK_INT(list.count, 0);
    json_object_put(v);
}

static void expect_list_bad(const char *json, int want_rc, const char *want_err)
{
    emailaddr_list_t list;
    char err[256] = "";
    json_object *v = parse(json);
    emailaddr_list_init(&list);
    int rc = emailaddr_list_add_json(&list, "payload.cc", v, err, sizeof(err));
    if (rc != want_rc || strcmp(err, want_err) != 0 || list.count != 0) {
        fprintf(stderr, "  %.60s: rc %d err '%s' count %zu, expected %d '%s'\n", json, rc, err,
                list.count, want_rc, want_err);
        testutil_case_failed = 1;
    }
    emailaddr_list_clear(&list);
    json_object_put(v);
}

static void test_lists(void)
{
    expect_list("\"a@example.com\"", 1, "a@example.com", "a@example.com");
    expect_list("\" a@example.com , b@example.org\"", 2, "a@example.com", "b@example.org");
    expect_list("\"\\\"x,y\\\"@example.com,b@example.org\"", 2, "\"x,y\"@example.com",
                "b@example.org");
    expect_list("[\"a@example.com\", \" b@example.org \"]", 2, "a@example.com", "b@example.org");
    expect_list("\"\"", 0, NULL, NULL);
    expect_list("\"   \"", 0, NULL, NULL);
    expect_list("[]", 0, NULL, NULL);

    expect_list_bad("\"a@example.com,,b@example.org\"", EMAILADDR_ERR_ADDRESS,
                    "payload.cc[1]: address must not be empty");
    expect_list_bad("\"a@example.com,\"", EMAILADDR_ERR_ADDRESS,
                    "payload.cc[1]: address must not be empty");
    expect_list_bad("\"a@example.com, b@@example.org\"", EMAILADDR_ERR_ADDRESS,
                    "payload.cc[1]: domain may contain only letters, digits, '-' and '.'");
    expect_list_bad("[\"a@example.com\", 7]", EMAILADDR_ERR_FORM,
                    "payload.cc[1]: must be a string");
    expect_list_bad("[\"a@example.com\", \"nope\"]", EMAILADDR_ERR_ADDRESS,
                    "payload.cc[1]: missing '@'");
    expect_list_bad("42", EMAILADDR_ERR_FORM,
                    "payload.cc: must be a string or an array of strings");
    expect_list_bad("{\"a\": \"x@example.com\"}", EMAILADDR_ERR_FORM,
                    "payload.cc: must be a string or an array of strings");
}

static void test_list_limit(void)
{
    emailaddr_list_t list;
    char err[256] = "";
    json_object *arr = json_object_new_array();
    json_object *one;

    for (int i = 0; i < EMAILADDR_LIST_MAX; i++) {
        char addr[64];
        snprintf(addr, sizeof(addr), "user%d@example.com", i);
        json_object_array_add(arr, json_object_new_string(addr));
    }
    emailaddr_list_init(&list);
    CHECK_INT(emailaddr_list_add_json(&list, "payload.bcc", arr, err, sizeof(err)), 0);
    CHECK_INT(list.count, EMAILADDR_LIST_MAX);
    CHECK_STR(list.addrs[99], "user99@example.com");

    /* One more does not fit; the list keeps what it had. */
    one = json_object_new_string("late@example.com, later@example.com");
    CHECK_INT(emailaddr_list_add_json(&list, "payload.bcc", one, err, sizeof(err)),
              EMAILADDR_ERR_FORM);
    CHECK_STR(err, "payload.bcc: more than 100 addresses");
    CHECK_INT(list.count, EMAILADDR_LIST_MAX);
    /* NULL (absent or null) adds nothing. */
    CHECK_INT(emailaddr_list_add_json(&list, "payload.bcc", NULL, err, sizeof(err)), 0);
    CHECK_INT(list.count, EMAILADDR_LIST_MAX);

    emailaddr_list_clear(&list);
    json_object_put(arr);
    json_object_put(one);
}

int main(void)
{
    TEST_RUN(test_valid);
    TEST_RUN(test_invalid);
    TEST_RUN(test_lists);
    TEST_RUN(test_list_limit);
    return TEST_EXIT();
}
