/* Twilio's published RequestValidator vectors (providers.md section 3). */
#include "testutil.h"

#include "formenc.h"
#include "twiliosig.h"

#define TOKEN "12345"
#define URL   "https://mycompany.com/myapp.php?foo=1&bar=2"

static const twiliosig_param_t vector_params[] = {
    {"To", "+18005551212"},   {"Caller", "+14158675309"},       {"Digits", "1234"},
    {"From", "+14158675309"}, {"CallSid", "CA1234567890ABCDE"},
};
#define NPARAMS (sizeof(vector_params) / sizeof(vector_params[0]))

static void test_vector_compute(void)
{
    char sig[TWILIOSIG_SIZE];
    CHECK_INT(twiliosig_compute(TOKEN, 5, URL, vector_params, NPARAMS, sig), 0);
    CHECK_STR(sig, "RSOYDt4T1cUTdK1PDd93/VVr8B8=");
    CHECK_INT(twiliosig_compute(TOKEN, 5, "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                                vector_params, NPARAMS, sig),
              0);
    CHECK_STR(sig, "kvajT1Ptam85bY51eRf/AJRuM3w=");
    CHECK_INT(twiliosig_compute(TOKEN, 5, "http://mycompany.com:80/myapp.php?foo=1&bar=2",
                                vector_params, NPARAMS, sig),
              0);
    CHECK_STR(sig, "0ZXoZLH/DfblKGATFgpif+LLRf4=");
}

static void test_vector_validate_port_variants(void)
{
    /* Signed without the port, called with it, and the other way round. */
    CHECK(
        twiliosig_validate(TOKEN, 5, URL, vector_params, NPARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    CHECK(twiliosig_validate(TOKEN, 5, "https://mycompany.com:443/myapp.php?foo=1&bar=2",
                             vector_params, NPARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    CHECK(
        twiliosig_validate(TOKEN, 5, URL, vector_params, NPARAMS, "kvajT1Ptam85bY51eRf/AJRuM3w="));
    CHECK(twiliosig_validate(TOKEN, 5, "http://mycompany.com/myapp.php?foo=1&bar=2", vector_params,
                             NPARAMS, "0ZXoZLH/DfblKGATFgpif+LLRf4="));
    /* A wrong token, a changed value, a missing parameter or another URL all fail. */
    CHECK(!twiliosig_validate("12346", 5, URL, vector_params, NPARAMS,
                              "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    twiliosig_param_t changed[NPARAMS];
    memcpy(changed, vector_params, sizeof(changed));
    changed[2].value = "1235";
    CHECK(!twiliosig_validate(TOKEN, 5, URL, changed, NPARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    CHECK(!twiliosig_validate(TOKEN, 5, URL, vector_params, NPARAMS - 1,
                              "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    CHECK(!twiliosig_validate(TOKEN, 5, "https://mycompany.com/myapp.php?foo=1&bar=3",
                              vector_params, NPARAMS, "RSOYDt4T1cUTdK1PDd93/VVr8B8="));
    CHECK(!twiliosig_validate(TOKEN, 5, URL, vector_params, NPARAMS, ""));
    CHECK(!twiliosig_validate(TOKEN, 5, URL, vector_params, NPARAMS, NULL));
}

static void test_vector_repeated_values(void)
{
    /* Values sorted within a name, identical pairs once; read through the form decoder. */
    const char *body = "Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234";
    char err[64];
    formenc_t *f = formenc_parse(body, strlen(body), err, sizeof(err));
    REQUIRE(f != NULL);
    twiliosig_param_t p[8];
    size_t n = formenc_count(f);
    for (size_t i = 0; i < n; i++) {
        p[i].name = formenc_name(f, i);
        p[i].value = formenc_value(f, i);
    }
    char sig[TWILIOSIG_SIZE];
    CHECK_INT(twiliosig_compute(TOKEN, 5, URL, p, n, sig), 0);
    CHECK_STR(sig, "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
    formenc_destroy(f);
}

static void test_vector_body_sha256(void)
{
    const char *body = "{\"property\": \"value\", \"boolean\": true}";
    const char *url = "https://mycompany.com/myapp.php?foo=1&bar=2&bodySHA256="
                      "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620";
    CHECK(twiliosig_validate(TOKEN, 5, url, NULL, 0, "a9nBmqA0ju/hNViExpshrM61xv4="));
    CHECK(twiliosig_body_hash_ok(url, body, strlen(body)));
    CHECK(!twiliosig_body_hash_ok(url, "{}", 2));
    CHECK(!twiliosig_body_hash_ok(URL, body, strlen(body)));
}

static void test_port_variants(void)
{
    char out[256];
    CHECK_INT(twiliosig_url_without_port("https://a.example:8443/x?y=1", out, sizeof(out)), 0);
    CHECK_STR(out, "https://a.example/x?y=1");
    CHECK_INT(twiliosig_url_with_port("https://a.example/x?y=1", out, sizeof(out)), 0);
    CHECK_STR(out, "https://a.example:443/x?y=1");
    CHECK_INT(twiliosig_url_with_port("http://a.example", out, sizeof(out)), 0);
    CHECK_STR(out, "http://a.example:80");
    CHECK_INT(twiliosig_url_with_port("https://a.example:8443/x", out, sizeof(out)), 0);
    CHECK_STR(out, "https://a.example:8443/x");
    CHECK_INT(twiliosig_url_without_port("https://u:p@[::1]:99/x", out, sizeof(out)), 0);
    CHECK_STR(out, "https://u:p@[::1]/x");
    CHECK_INT(twiliosig_url_without_port("no-scheme/x", out, sizeof(out)), -1);
    CHECK_INT(twiliosig_url_with_port("https://a.example/x", out, 10), -1);
    /* Found by fuzzing: an empty port is kept as given, so one variant is the URL itself
     * (and a signature over it validates); a URL without a host is refused. */
    CHECK_INT(twiliosig_url_with_port("https://a.example:/x", out, sizeof(out)), 0);
    CHECK_STR(out, "https://a.example:/x");
    CHECK_INT(twiliosig_url_without_port("http://:80/x", out, sizeof(out)), -1);
    CHECK_INT(twiliosig_url_with_port("http://u@/x", out, sizeof(out)), -1);
}

int main(void)
{
    TEST_RUN(test_vector_compute);
    TEST_RUN(test_vector_validate_port_variants);
    TEST_RUN(test_vector_repeated_values);
    TEST_RUN(test_vector_body_sha256);
    TEST_RUN(test_port_variants);
    return TEST_EXIT();
}
