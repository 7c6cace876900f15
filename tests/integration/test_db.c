/*
 * PostgreSQL against a real server (DATABASE_URL, from the stack scripts/test starts):
 * migrations, constraints, the provider-config loader and reconnection.
 *
 * Everything happens in schemas of its own (test_db_<pid>...), reached through the
 * connection option search_path so that it survives reconnects, and dropped at the end;
 * other tests using the same database are not disturbed.
 */
#include "testdb.h"
#include "testutil.h"

#include "db.h"
#include "log.h"
#include "migrate.h"
#include "provcfg.h"
#include "redact.h"
#include "secret.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A fixed test key (32 bytes of "0123456789abcdef" twice). */
#define TEST_KEYS "k1:MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

#define SMTP_PASSWORD "smtp-pass-4471"
#define EMAIL_WEBHOOK "whsec-email-9931"
#define TWILIO_TOKEN  "twilio-token-5521"
#define AWS_ACCESS    "AKIATESTACCESS0001"
#define AWS_SECRET    "aws-secret-key-7781"
#define SMS_WEBHOOK   "whsec-sms-1207"
#define STATEMENT_MS  5000
#define APP_NAME      "test_db"

static const char *g_url;
static char g_schema[64];
static char *g_conninfo;
static db_t *g_admin;
static secret_ring_t *g_ring;

/* ---- helpers ---------------------------------------------------------------------- */

/* A connection string for `schema` (search_path), optionally through host:port. */
static char *conninfo_for(const char *schema, const char *host, const char *port)
{
    char options[160];
    snprintf(options, sizeof(options), "-c search_path=%s", schema);
    const char *keys[] = {"options", "application_name", "host", "port", "hostaddr", NULL};
    const char *values[] = {options, NULL, host, port, NULL, NULL};
    if (host == NULL)
        keys[2] = NULL; /* keep the URL's host, port and hostaddr */
    return testdb_conninfo(g_url, keys, values);
}

static char *encrypt_for(const char *org, const char *column, const char *plain)
{
    char *out = NULL;
    char errstr[256];
    if (secret_encrypt(g_ring, org, column, plain, strlen(plain), &out, errstr, sizeof(errstr)) !=
        SECRET_OK) {
        fprintf(stderr, "secret_encrypt: %s\n", errstr);
        abort();
    }
    return out;
}

static int backend_pid(db_t *db)
{
    char pid[32];
    PGresult *res = NULL;
    char errstr[256];
    if (db_exec_prepared(db, "backend_pid", 0, NULL, &res, errstr, sizeof(errstr)) != DB_OK)
        return -1;
    snprintf(pid, sizeof(pid), "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return (int)strtol(pid, NULL, 10);
}

/* Ends a backend from the admin connection and waits until it is gone. */
static bool terminate(int pid)
{
    char pid_text[32], ok[8];
    snprintf(pid_text, sizeof(pid_text), "%d", pid);
    const char *values[] = {pid_text};
    testdb_query_value(g_admin, "SELECT pg_terminate_backend($1::int, 5000)", 1, values, ok,
                       sizeof(ok));
    return strcmp(ok, "t") == 0;
}

/* ---- a TCP proxy to the server, to take the database away and give it back -------- */

#define PROXY_MAX_PAIRS 16

typedef struct proxy_s {
    int listen_fd;
    int port;
    int wake[2];
    pthread_t thread;
    char host[256]; /* the server's host, or its socket directory */
    char host_port[16];
} proxy_t;

static int proxy_dial(const proxy_t *p)
{
    if (p->host[0] == '/') {
        struct sockaddr_un sa = {.sun_family = AF_UNIX};
        if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/.s.PGSQL.%s", p->host, p->host_port) >=
            (int)sizeof(sa.sun_path))
            return -1;
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(p->host, p->host_port, &hints, &ai) != 0)
        return -1;
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n <= 0)
            return false;
        buf += n;
        len -= (size_t)n;
    }
    return true;
}

static void *proxy_run(void *arg)
{
    proxy_t *p = arg;
    int pairs[PROXY_MAX_PAIRS][2];
    size_t npairs = 0;
    for (;;) {
        struct pollfd fds[2 + 2 * PROXY_MAX_PAIRS];
        fds[0] = (struct pollfd){.fd = p->wake[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < npairs; i++) {
            fds[2 + 2 * i] = (struct pollfd){.fd = pairs[i][0], .events = POLLIN};
            fds[3 + 2 * i] = (struct pollfd){.fd = pairs[i][1], .events = POLLIN};
        }
        if (poll(fds, 2 + 2 * npairs, -1) < 0 && errno != EINTR)
            break;
        if (fds[0].revents)
            break;
        for (size_t i = 0; i < npairs; i++) {
            for (int side = 0; side < 2; side++) {
                if (pairs[i][0] < 0 || !(fds[2 + 2 * i + side].revents & (POLLIN | POLLHUP)))
                    continue;
                char buf[16384];
                ssize_t n = read(pairs[i][side], buf, sizeof(buf));
                if (n <= 0 || !write_all(pairs[i][1 - side], buf, (size_t)n)) {
                    close(pairs[i][0]);
                    close(pairs[i][1]);
                    pairs[i][0] = pairs[i][1] = -1;
                }
            }
        }
        size_t kept = 0;
        for (size_t i = 0; i < npairs; i++) {
            if (pairs[i][0] >= 0) {
                pairs[kept][0] = pairs[i][0];
                pairs[kept][1] = pairs[i][1];
                kept++;
            }
        }
        npairs = kept;
        if (fds[1].revents & POLLIN) {
            int client = accept(p->listen_fd, NULL, NULL);
            int server = client >= 0 ? proxy_dial(p) : -1;
            if (server >= 0 && npairs < PROXY_MAX_PAIRS) {
                pairs[npairs][0] = client;
                pairs[npairs][1] = server;
                npairs++;
            } else {
                if (client >= 0)
                    close(client);
                if (server >= 0)
                    close(server);
            }
        }
    }
    for (size_t i = 0; i < npairs; i++) {
        close(pairs[i][0]);
        close(pairs[i][1]);
    }
    return NULL;
}

/* Starts forwarding 127.0.0.1:port (0: any free port) to the server of DATABASE_URL. */
static bool proxy_start(proxy_t *p, int port)
{
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(sa);
    if (bind(p->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        listen(p->listen_fd, 16) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&sa, &len) != 0 || pipe(p->wake) != 0) {
        close(p->listen_fd);
        return false;
    }
    p->port = ntohs(sa.sin_port);
    return pthread_create(&p->thread, NULL, proxy_run, p) == 0;
}

/* Stops listening and cuts every forwarded connection. */
static void proxy_stop(proxy_t *p)
{
    ssize_t rc = write(p->wake[1], "x", 1);
    (void)rc;
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    close(p->wake[0]);
    close(p->wake[1]);
}

/* Where the proxy forwards to: the first host of DATABASE_URL, as libpq would pick it. */
static bool proxy_target(proxy_t *p)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(g_url, &err);
    if (opts == NULL) {
        PQfreemem(err);
        return false;
    }
    const char *host = getenv("PGHOST"), *port = getenv("PGPORT");
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (o->val != NULL && o->val[0] != '\0' && strcmp(o->keyword, "host") == 0)
            host = o->val;
        if (o->val != NULL && o->val[0] != '\0' && strcmp(o->keyword, "port") == 0)
            port = o->val;
    }
    snprintf(p->host, sizeof(p->host), "%s", host ? host : "/var/run/postgresql");
    snprintf(p->host_port, sizeof(p->host_port), "%s", port ? port : "5432");
    p->host[strcspn(p->host, ",")] = '\0';
    p->host_port[strcspn(p->host_port, ",")] = '\0';
    PQconninfoFree(opts);
    return true;
}

/* ---- migrations ------------------------------------------------------------------- */

static void count_applied(const migrate_script_t *script, void *opaque)
{
    (void)script;
    (*(int *)opaque)++;
}

static void test_migrate_twice(void)
{
    db_t *db = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(db != NULL);
    size_t count = 0;
    migrate_scripts(&count);
    char errstr[512];
    int applied = 0;
    CHECK_INT(migrate_apply(db, count_applied, &applied, errstr, sizeof(errstr)), 0);
    CHECK_INT(applied, count);
    applied = 0;
    CHECK_INT(migrate_apply(db, count_applied, &applied, errstr, sizeof(errstr)), 0);
    CHECK_INT(applied, 0);

    char n[16];
    testdb_query_value(db, "SELECT count(*) FROM schema_migrations", 0, NULL, n, sizeof(n));
    CHECK_INT(strtol(n, NULL, 10), count);
    char schema[64];
    testdb_query_value(db, "SELECT current_schema()", 0, NULL, schema, sizeof(schema));
    CHECK_STR(schema, g_schema);

    migrate_status_t *rows = NULL;
    size_t nrows = 0;
    CHECK_INT(migrate_status(db, &rows, &nrows, errstr, sizeof(errstr)), 0);
    CHECK_INT(nrows, count);
    for (size_t i = 0; i < nrows; i++) {
        CHECK_INT(rows[i].state, MIGRATE_APPLIED);
        CHECK(rows[i].applied_at[0] != '\0');
    }
    migrate_status_free(rows);
    db_destroy(db);
}

static void test_migrate_refuses_edited_file(void)
{
    db_t *db = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(db != NULL);
    char old[80];
    testdb_query_value(db, "SELECT checksum FROM schema_migrations WHERE version = 1", 0, NULL, old,
                       sizeof(old));
    REQUIRE(old[0] != '\0');
    CHECK_INT(testdb_run(db, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1",
                         0, NULL),
              DB_OK);

    char errstr[512] = "";
    CHECK_INT(migrate_apply(db, NULL, NULL, errstr, sizeof(errstr)), -1);
    CHECK(strstr(errstr, "0001_") != NULL);
    migrate_status_t *rows = NULL;
    size_t nrows = 0;
    CHECK_INT(migrate_status(db, &rows, &nrows, errstr, sizeof(errstr)), 0);
    CHECK(nrows > 0 && rows[0].state == MIGRATE_CHANGED);
    migrate_status_free(rows);

    const char *values[] = {old};
    CHECK_INT(
        testdb_run(db, "UPDATE schema_migrations SET checksum = $1 WHERE version = 1", 1, values),
        DB_OK);
    CHECK_INT(migrate_apply(db, NULL, NULL, errstr, sizeof(errstr)), 0);
    db_destroy(db);
}

typedef struct migrate_race_s {
    const char *conninfo;
    int rc;
    int applied;
    char errstr[512];
} migrate_race_t;

static void *migrate_race_run(void *arg)
{
    migrate_race_t *r = arg;
    r->rc = -1;
    db_t *db = testdb_connect(r->conninfo, APP_NAME, STATEMENT_MS);
    if (db != NULL)
        r->rc = migrate_apply(db, count_applied, &r->applied, r->errstr, sizeof(r->errstr));
    db_destroy(db);
    return NULL;
}

/* Two runs at once on an empty schema: both succeed, each migration is applied once. */
static void test_migrate_concurrent(void)
{
    char schema[64], sql[128];
    REQUIRE(snprintf(schema, sizeof(schema), "%s_race", g_schema) < (int)sizeof(schema));
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
    REQUIRE(testdb_run(g_admin, sql, 0, NULL) == DB_OK);
    char *conninfo = conninfo_for(schema, NULL, NULL);
    migrate_race_t races[2] = {{.conninfo = conninfo}, {.conninfo = conninfo}};
    pthread_t threads[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&threads[i], NULL, migrate_race_run, &races[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(threads[i], NULL);
    size_t count = 0;
    migrate_scripts(&count);
    CHECK_INT(races[0].rc, 0);
    CHECK_INT(races[1].rc, 0);
    CHECK_INT(races[0].applied + races[1].applied, count);

    char n[16];
    snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s.schema_migrations", schema);
    testdb_query_value(g_admin, sql, 0, NULL, n, sizeof(n));
    CHECK_INT(strtol(n, NULL, 10), count);
    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
    CHECK_INT(testdb_run(g_admin, sql, 0, NULL), DB_OK);
    free(conninfo);
}

/* ---- constraints ------------------------------------------------------------------ */

static void expect_sql_error(db_t *db, const char *sqlstate, const char *sql)
{
    db_err_t err = testdb_run(db, sql, 0, NULL);
    CHECK_INT(err, DB_ERR_SQL);
    CHECK_STR(db_sqlstate(db), sqlstate);
    CHECK(!db_retryable(db, err));
    if (err != DB_ERR_SQL)
        fprintf(stderr, "  accepted: %s\n", sql);
}

static void test_constraints(void)
{
    db_t *db = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(db != NULL);

    /* Defaults of the seed. */
    REQUIRE(testdb_run(
                db, "INSERT INTO sms_rate_limit (org_id, provider_type) VALUES ('c-org', 'TWILIO')",
                0, NULL) == DB_OK);
    char v[64];
    testdb_query_value(db,
                       "SELECT quota_limit || '/' || messages_sent_count || '/' || "
                       "rate_limit_window_seconds FROM sms_rate_limit WHERE org_id = 'c-org'",
                       0, NULL, v, sizeof(v));
    CHECK_STR(v, "1000/0/86400");

    expect_sql_error(db, DB_SQLSTATE_CHECK_VIOLATION,
                     "UPDATE sms_rate_limit SET messages_sent_count = 1001 WHERE org_id = "
                     "'c-org'");
    expect_sql_error(db, DB_SQLSTATE_CHECK_VIOLATION,
                     "INSERT INTO email_rate_limit (org_id, messages_sent_count) VALUES "
                     "('c-org', -1)");
    expect_sql_error(db, DB_SQLSTATE_CHECK_VIOLATION,
                     "INSERT INTO sms_rate_limit (org_id, provider_type) VALUES ('c-org', 'SMS')");
    expect_sql_error(db, DB_SQLSTATE_UNIQUE_VIOLATION,
                     "INSERT INTO sms_rate_limit (org_id, provider_type) VALUES ('c-org', "
                     "'TWILIO')");
    expect_sql_error(db, DB_SQLSTATE_CHECK_VIOLATION,
                     "INSERT INTO sms_provider_config (org_id, provider_type) VALUES ('c-org', "
                     "'TWILIO')");
    expect_sql_error(db, DB_SQLSTATE_CHECK_VIOLATION,
                     "INSERT INTO sms_provider_config (org_id, provider_type, aws_region) "
                     "VALUES ('c-org', 'AWS_SNS', 'us-east-1')");
    expect_sql_error(db, DB_SQLSTATE_CHECK_VIOLATION,
                     "INSERT INTO email_provider_config (org_id, provider_type, smtp_host, "
                     "from_email) VALUES ('c-org', 'SES', 'h', 'a@b.c')");
    expect_sql_error(db, DB_SQLSTATE_CHECK_VIOLATION,
                     "INSERT INTO email_provider_config (org_id, smtp_host, smtp_port, "
                     "from_email) VALUES ('c-org', 'h', 70000, 'a@b.c')");
    expect_sql_error(db, DB_SQLSTATE_NOT_NULL,
                     "INSERT INTO email_provider_config (org_id, from_email) VALUES ('c-org', "
                     "'a@b.c')");

    /* The ledger: states, channel/provider pairs, and one provider id per provider. */
    REQUIRE(
        testdb_run(db,
                   "INSERT INTO delivery_ledger (org_id, channel, idempotency_key, message_id, "
                   "provider, provider_message_id) VALUES ('c-org', 'sms', 'k1', 'm1', 'TWILIO', "
                   "'SM1')",
                   0, NULL) == DB_OK);
    testdb_query_value(
        db,
        "SELECT state || '/' || attempts FROM delivery_ledger WHERE idempotency_key = "
        "'k1'",
        0, NULL, v, sizeof(v));
    CHECK_STR(v, "RESERVED/0");
    expect_sql_error(db, DB_SQLSTATE_CHECK_VIOLATION,
                     "UPDATE delivery_ledger SET state = 'DONE' WHERE idempotency_key = 'k1'");
    expect_sql_error(db, DB_SQLSTATE_UNIQUE_VIOLATION,
                     "INSERT INTO delivery_ledger (org_id, channel, idempotency_key, message_id, "
                     "provider) VALUES ('c-org', 'sms', 'k1', 'm2', 'TWILIO')");
    expect_sql_error(db, DB_SQLSTATE_UNIQUE_VIOLATION,
                     "INSERT INTO delivery_ledger (org_id, channel, idempotency_key, message_id, "
                     "provider, provider_message_id) VALUES ('c-org2', 'sms', 'k2', 'm2', "
                     "'TWILIO', 'SM1')");
    expect_sql_error(db, DB_SQLSTATE_CHECK_VIOLATION,
                     "INSERT INTO delivery_ledger (org_id, channel, idempotency_key, message_id, "
                     "provider) VALUES ('c-org', 'email', 'k3', 'm3', 'TWILIO')");
    /* The same provider id under another provider is another message. */
    CHECK_INT(
        testdb_run(db,
                   "INSERT INTO delivery_ledger (org_id, channel, idempotency_key, message_id, "
                   "provider, provider_message_id) VALUES ('c-org', 'sms', 'k4', 'm4', 'AWS_SNS', "
                   "'SM1')",
                   0, NULL),
        DB_OK);
    /* An update stamps updated_at. */
    CHECK_INT(testdb_run(db,
                         "UPDATE delivery_ledger SET state = 'SENDING', updated_at = 'epoch' WHERE "
                         "idempotency_key = 'k1'",
                         0, NULL),
              DB_OK);
    testdb_query_value(db,
                       "SELECT updated_at > now() - interval '1 minute' FROM delivery_ledger WHERE "
                       "idempotency_key = 'k1'",
                       0, NULL, v, sizeof(v));
    CHECK_STR(v, "t");
    db_destroy(db);
}

static void test_sql_errors_and_timeouts(void)
{
    db_t *db = testdb_connect(g_conninfo, APP_NAME, 200);
    REQUIRE(db != NULL);
    char errstr[512];
    CHECK_INT(db_prepare(db, "bad", "SELECT * FROM no_such_table", 0, 0, errstr, sizeof(errstr)),
              DB_ERR_SQL);
    CHECK_STR(db_sqlstate(db), "42P01");
    /* Not registered after a refusal. */
    CHECK_INT(db_exec_prepared(db, "bad", 0, NULL, NULL, errstr, sizeof(errstr)), DB_ERR_USAGE);
    CHECK_INT(db_prepare(db, "one", "SELECT $1::int + 1", 1, 0, errstr, sizeof(errstr)), DB_OK);
    CHECK_INT(db_prepare(db, "one", "SELECT $1::int + 1", 1, 0, errstr, sizeof(errstr)), DB_OK);
    CHECK_INT(db_prepare(db, "one", "SELECT $1::int + 2", 1, 0, errstr, sizeof(errstr)),
              DB_ERR_USAGE);
    CHECK_INT(db_exec_prepared(db, "one", 2, NULL, NULL, errstr, sizeof(errstr)), DB_ERR_USAGE);

    /* statement_timeout applies, and a timeout is worth retrying. */
    db_err_t err = db_exec(db, "SELECT pg_sleep(2)", NULL, errstr, sizeof(errstr));
    CHECK_INT(err, DB_ERR_SQL);
    CHECK_STR(db_sqlstate(db), "57014");
    CHECK(db_retryable(db, err));

    /* A commit after a failed statement rolls back and says so. */
    CHECK_INT(db_begin(db, errstr, sizeof(errstr)), DB_OK);
    CHECK_INT(db_exec(db, "SELECT 1/0", NULL, errstr, sizeof(errstr)), DB_ERR_SQL);
    CHECK_STR(db_sqlstate(db), "22012");
    CHECK_INT(db_commit(db, errstr, sizeof(errstr)), DB_ERR_SQL);
    CHECK_STR(db_sqlstate(db), "25P02");
    CHECK_INT(db_ping(db, errstr, sizeof(errstr)), DB_OK);
    db_destroy(db);
}

/* ---- reconnect -------------------------------------------------------------------- */

static void test_reconnect_after_terminate(void)
{
    db_t *db = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(db != NULL);
    char errstr[512];
    REQUIRE(db_prepare(db, "backend_pid", "SELECT pg_backend_pid()", 0, 0, errstr,
                       sizeof(errstr)) == DB_OK);
    REQUIRE(db_prepare(db, "backend_pid_once", "SELECT pg_backend_pid()", 0, DB_STMT_NO_RETRY,
                       errstr, sizeof(errstr)) == DB_OK);

    /* Outside a transaction: the call that finds the connection gone reconnects,
     * re-prepares and succeeds. */
    int pid1 = backend_pid(db);
    REQUIRE(pid1 > 0);
    REQUIRE(terminate(pid1));
    int pid2 = backend_pid(db);
    CHECK(pid2 > 0);
    CHECK(pid2 != pid1);

    /* The session settings and the search_path came back with the new connection. */
    char v[64];
    testdb_query_value(db, "SELECT current_setting('statement_timeout')", 0, NULL, v, sizeof(v));
    CHECK_STR(v, "5s");
    testdb_query_value(db, "SELECT current_setting('plan_cache_mode')", 0, NULL, v, sizeof(v));
    CHECK_STR(v, "force_custom_plan");
    testdb_query_value(db, "SELECT current_setting('application_name')", 0, NULL, v, sizeof(v));
    CHECK_STR(v, APP_NAME);
    testdb_query_value(db, "SELECT current_schema()", 0, NULL, v, sizeof(v));
    CHECK_STR(v, g_schema);

    /* Inside a transaction: no retry, and nothing more runs until the rollback. */
    CHECK_INT(db_begin(db, errstr, sizeof(errstr)), DB_OK);
    int pid3 = backend_pid(db);
    REQUIRE(terminate(pid3));
    db_err_t err = db_exec_prepared(db, "backend_pid", 0, NULL, NULL, errstr, sizeof(errstr));
    CHECK_INT(err, DB_ERR_CONN);
    CHECK(db_retryable(db, err));
    CHECK_INT(db_exec(db, "SELECT 1", NULL, errstr, sizeof(errstr)), DB_ERR_CONN);
    CHECK_INT(db_commit(db, errstr, sizeof(errstr)), DB_ERR_CONN);
    db_rollback(db);
    int pid4 = backend_pid(db);
    CHECK(pid4 > 0 && pid4 != pid3);

    /* A statement registered as not retryable reports the loss; the next call works. */
    REQUIRE(terminate(pid4));
    CHECK_INT(db_exec_prepared(db, "backend_pid_once", 0, NULL, NULL, errstr, sizeof(errstr)),
              DB_ERR_CONN);
    CHECK_INT(db_exec_prepared(db, "backend_pid_once", 0, NULL, NULL, errstr, sizeof(errstr)),
              DB_OK);
    db_destroy(db);
}

/* ---- provider config -------------------------------------------------------------- */

static void insert_provider_rows(db_t *db)
{
    char *pw = encrypt_for("acme", "email_provider_config.smtp_password_encrypted", SMTP_PASSWORD);
    char *wh = encrypt_for("acme", "email_provider_config.webhook_secret_encrypted", EMAIL_WEBHOOK);
    const char *email[] = {"acme", pw, wh};
    CHECK_INT(
        testdb_run(db,
                   "INSERT INTO email_provider_config (org_id, smtp_host, smtp_port, "
                   "smtp_username, smtp_password_encrypted, from_email, from_name, use_tls, "
                   "webhook_secret_encrypted) VALUES ($1, 'smtp.example.net', 2525, 'mailer', $2, "
                   "'noreply@acme.test', 'Acme', true, $3)",
                   3, email),
        DB_OK);
    /* The same ciphertext in another org's row: bound to acme, so it must not decrypt. */
    const char *moved[] = {"bad", pw};
    CHECK_INT(
        testdb_run(db,
                   "INSERT INTO email_provider_config (org_id, smtp_host, smtp_username, "
                   "smtp_password_encrypted, from_email) VALUES ($1, 'h', 'u', $2, 'a@bad.test')",
                   2, moved),
        DB_OK);
    CHECK_INT(
        testdb_run(db,
                   "INSERT INTO email_provider_config (org_id, smtp_host, from_email, enabled) "
                   "VALUES ('off', 'h', 'a@off.test', false)",
                   0, NULL),
        DB_OK);
    free(pw);
    free(wh);

    char *tok =
        encrypt_for("acme", "sms_provider_config.twilio_auth_token_encrypted", TWILIO_TOKEN);
    char *swh = encrypt_for("acme", "sms_provider_config.webhook_secret_encrypted", SMS_WEBHOOK);
    const char *twilio[] = {tok, swh};
    CHECK_INT(
        testdb_run(db,
                   "INSERT INTO sms_provider_config (org_id, provider_type, twilio_account_sid, "
                   "twilio_auth_token_encrypted, twilio_from_number, webhook_secret_encrypted) "
                   "VALUES ('acme', 'TWILIO', 'AC123', $1, '+15551234567', $2)",
                   2, twilio),
        DB_OK);
    /* One character of the ciphertext changed: the tag no longer matches. */
    size_t len = strlen(tok);
    tok[len - 3] = tok[len - 3] == 'A' ? 'B' : 'A';
    const char *tampered[] = {tok};
    CHECK_INT(
        testdb_run(db,
                   "INSERT INTO sms_provider_config (org_id, provider_type, twilio_account_sid, "
                   "twilio_auth_token_encrypted, twilio_from_number) VALUES ('bad', 'TWILIO', "
                   "'AC9', $1, '+15550000000')",
                   1, tampered),
        DB_OK);
    free(tok);
    free(swh);

    char *ak = encrypt_for("acme", "sms_provider_config.aws_access_key_encrypted", AWS_ACCESS);
    char *sk = encrypt_for("acme", "sms_provider_config.aws_secret_key_encrypted", AWS_SECRET);
    const char *sns[] = {ak, sk};
    CHECK_INT(
        testdb_run(db,
                   "INSERT INTO sms_provider_config (org_id, provider_type, "
                   "aws_access_key_encrypted, aws_secret_key_encrypted, aws_region, "
                   "aws_sender_id, sns_topic_arn_allowlist) VALUES ('acme', 'AWS_SNS', $1, $2, "
                   "'eu-west-1', 'ACME', ARRAY['arn:aws:sns:eu-west-1:1:a', "
                   "'arn:aws:sns:eu-west-1:1:b'])",
                   2, sns),
        DB_OK);
    free(ak);
    free(sk);
}

static void test_provcfg_outcomes(void)
{
    db_t *db = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(db != NULL);
    insert_provider_rows(db);
    char errstr[512];
    provcfg_t *pc = provcfg_new(db, g_ring, 60000, errstr, sizeof(errstr));
    REQUIRE(pc != NULL);

    const provcfg_email_t *email = NULL;
    CHECK_INT(provcfg_get_email(pc, "acme", &email, errstr, sizeof(errstr)), PROVCFG_OK);
    REQUIRE(email != NULL);
    CHECK_STR(email->org_id, "acme");
    CHECK_STR(email->smtp_host, "smtp.example.net");
    CHECK_INT(email->smtp_port, 2525);
    CHECK_STR(email->smtp_username, "mailer");
    CHECK_STR(email->smtp_password, SMTP_PASSWORD);
    CHECK_STR(email->webhook_secret, EMAIL_WEBHOOK);
    CHECK_STR(email->from_email, "noreply@acme.test");
    CHECK_STR(email->from_name, "Acme");
    CHECK(email->reply_to_email == NULL);
    CHECK(email->ca_file == NULL);
    CHECK(email->use_tls);
    CHECK(!email->use_ssl);
    CHECK_INT(email->pool_size, 5);
    provcfg_email_release(email);

    /* Decrypted secrets are scrubbed from anything that is logged. */
    char line[256];
    redact_copy("auth with " SMTP_PASSWORD " and " TWILIO_TOKEN, line, sizeof(line));
    CHECK(strstr(line, SMTP_PASSWORD) == NULL);

    CHECK_INT(provcfg_get_email(pc, "nobody", &email, errstr, sizeof(errstr)),
              PROVCFG_ERR_UNKNOWN_ORG);
    CHECK(email == NULL);
    CHECK_INT(provcfg_get_email(pc, "off", &email, errstr, sizeof(errstr)), PROVCFG_ERR_DISABLED);
    CHECK_INT(provcfg_get_email(pc, "bad", &email, errstr, sizeof(errstr)), PROVCFG_ERR_CONFIG);
    CHECK(strstr(errstr, "email_provider_config.smtp_password_encrypted") != NULL);
    CHECK(strstr(errstr, "v1:") == NULL);
    CHECK(strstr(errstr, SMTP_PASSWORD) == NULL);
    /* A cached failure answers the same, message included. */
    CHECK_INT(provcfg_get_email(pc, "bad", &email, errstr, sizeof(errstr)), PROVCFG_ERR_CONFIG);
    CHECK(strstr(errstr, "smtp_password_encrypted") != NULL);

    const provcfg_sms_t *sms = NULL;
    CHECK_INT(provcfg_get_sms(pc, "acme", PROVCFG_SMS_TWILIO, &sms, errstr, sizeof(errstr)),
              PROVCFG_OK);
    REQUIRE(sms != NULL);
    CHECK_INT(sms->provider_type, PROVCFG_SMS_TWILIO);
    CHECK_STR(sms->twilio_account_sid, "AC123");
    CHECK_STR(sms->twilio_auth_token, TWILIO_TOKEN);
    CHECK_STR(sms->twilio_from_number, "+15551234567");
    CHECK_STR(sms->webhook_secret, SMS_WEBHOOK);
    CHECK(sms->aws_access_key == NULL);
    CHECK_INT(sms->sns_topic_arn_allowlist.count, 0);
    provcfg_sms_release(sms);

    CHECK_INT(provcfg_get_sms(pc, "acme", PROVCFG_SMS_AWS_SNS, &sms, errstr, sizeof(errstr)),
              PROVCFG_OK);
    REQUIRE(sms != NULL);
    CHECK_INT(sms->provider_type, PROVCFG_SMS_AWS_SNS);
    CHECK_STR(sms->aws_access_key, AWS_ACCESS);
    CHECK_STR(sms->aws_secret_key, AWS_SECRET);
    CHECK(sms->aws_session_token == NULL);
    CHECK_STR(sms->aws_region, "eu-west-1");
    CHECK_STR(sms->aws_sender_id, "ACME");
    CHECK(sms->twilio_auth_token == NULL);
    REQUIRE(sms->sns_topic_arn_allowlist.count == 2);
    CHECK_STR(sms->sns_topic_arn_allowlist.items[0], "arn:aws:sns:eu-west-1:1:a");
    CHECK_STR(sms->sns_topic_arn_allowlist.items[1], "arn:aws:sns:eu-west-1:1:b");
    provcfg_sms_release(sms);

    CHECK_INT(provcfg_get_sms(pc, "bad", PROVCFG_SMS_TWILIO, &sms, errstr, sizeof(errstr)),
              PROVCFG_ERR_CONFIG);
    CHECK(strstr(errstr, "sms_provider_config.twilio_auth_token_encrypted") != NULL);
    CHECK_INT(provcfg_get_sms(pc, "bad", PROVCFG_SMS_AWS_SNS, &sms, errstr, sizeof(errstr)),
              PROVCFG_ERR_UNKNOWN_ORG);
    CHECK_INT(provcfg_get_sms(pc, "off", PROVCFG_SMS_TWILIO, &sms, errstr, sizeof(errstr)),
              PROVCFG_ERR_UNKNOWN_ORG);

    provcfg_destroy(pc);
    db_destroy(db);
}

static void test_provcfg_cache_expiry(void)
{
    db_t *db = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(db != NULL);
    char errstr[512];
    provcfg_t *pc = provcfg_new(db, g_ring, 300, errstr, sizeof(errstr));
    REQUIRE(pc != NULL);
    REQUIRE(
        testdb_run(db,
                   "INSERT INTO email_provider_config (org_id, smtp_host, from_email, from_name) "
                   "VALUES ('cache-org', 'h', 'a@cache.test', 'first')",
                   0, NULL) == DB_OK);

    const provcfg_email_t *first = NULL, *second = NULL, *third = NULL;
    REQUIRE(provcfg_get_email(pc, "cache-org", &first, errstr, sizeof(errstr)) == PROVCFG_OK);
    CHECK_STR(first->from_name, "first");
    REQUIRE(testdb_run(db,
                       "UPDATE email_provider_config SET from_name = 'second' WHERE org_id = "
                       "'cache-org'",
                       0, NULL) == DB_OK);
    /* Within the TTL: the cached row. */
    REQUIRE(provcfg_get_email(pc, "cache-org", &second, errstr, sizeof(errstr)) == PROVCFG_OK);
    CHECK_STR(second->from_name, "first");
    CHECK(second == first);
    provcfg_email_release(second);

    testdb_sleep_ms(400);
    REQUIRE(provcfg_get_email(pc, "cache-org", &third, errstr, sizeof(errstr)) == PROVCFG_OK);
    CHECK_STR(third->from_name, "second");
    /* The config held from before the refresh is still whole. */
    CHECK_STR(first->from_name, "first");
    CHECK_STR(first->from_email, "a@cache.test");
    provcfg_email_release(first);
    provcfg_email_release(third);

    /* Disabling is seen after the TTL too; invalidation makes it immediate. */
    REQUIRE(testdb_run(
                db, "UPDATE email_provider_config SET enabled = false WHERE org_id = 'cache-org'",
                0, NULL) == DB_OK);
    provcfg_invalidate(pc, "cache-org");
    CHECK_INT(provcfg_get_email(pc, "cache-org", &first, errstr, sizeof(errstr)),
              PROVCFG_ERR_DISABLED);

    /* A config outlives the loader that returned it. */
    REQUIRE(testdb_run(db,
                       "UPDATE email_provider_config SET enabled = true WHERE org_id = 'cache-org'",
                       0, NULL) == DB_OK);
    provcfg_invalidate(pc, "cache-org");
    REQUIRE(provcfg_get_email(pc, "cache-org", &first, errstr, sizeof(errstr)) == PROVCFG_OK);
    provcfg_destroy(pc);
    CHECK_STR(first->from_name, "second");
    provcfg_email_release(first);
    db_destroy(db);
}

/* An unknown org is remembered, but for PROVCFG_NEGATIVE_TTL_MS at most, well under the
 * TTL of rows, so a newly added org starts working soon. */
static void test_provcfg_negative_cache(void)
{
    db_t *db = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(db != NULL);
    char errstr[512];
    provcfg_t *pc = provcfg_new(db, g_ring, 600000, errstr, sizeof(errstr));
    REQUIRE(pc != NULL);
    const provcfg_email_t *email = NULL;
    CHECK_INT(provcfg_get_email(pc, "late-org", &email, errstr, sizeof(errstr)),
              PROVCFG_ERR_UNKNOWN_ORG);
    CHECK(strstr(errstr, "late-org") != NULL);
    REQUIRE(testdb_run(db,
                       "INSERT INTO email_provider_config (org_id, smtp_host, from_email) VALUES "
                       "('late-org', 'h', 'a@late.test')",
                       0, NULL) == DB_OK);
    CHECK_INT(provcfg_get_email(pc, "late-org", &email, errstr, sizeof(errstr)),
              PROVCFG_ERR_UNKNOWN_ORG);
    testdb_sleep_ms(PROVCFG_NEGATIVE_TTL_MS + 200);
    CHECK_INT(provcfg_get_email(pc, "late-org", &email, errstr, sizeof(errstr)), PROVCFG_OK);
    provcfg_email_release(email);
    provcfg_destroy(pc);
    db_destroy(db);
}

typedef struct provcfg_worker_s {
    provcfg_t *pc;
    int failures;
} provcfg_worker_t;

static void *provcfg_worker_run(void *arg)
{
    provcfg_worker_t *w = arg;
    char errstr[256];
    for (int i = 0; i < 200; i++) {
        const provcfg_email_t *email = NULL, *none = NULL;
        const provcfg_sms_t *sms = NULL;
        if (provcfg_get_email(w->pc, "acme", &email, errstr, sizeof(errstr)) != PROVCFG_OK ||
            strcmp(email->smtp_password, SMTP_PASSWORD) != 0)
            w->failures++;
        if (provcfg_get_sms(w->pc, "acme", i % 2 ? PROVCFG_SMS_TWILIO : PROVCFG_SMS_AWS_SNS, &sms,
                            errstr, sizeof(errstr)) != PROVCFG_OK)
            w->failures++;
        if (provcfg_get_email(w->pc, "nobody", &none, errstr, sizeof(errstr)) !=
                PROVCFG_ERR_UNKNOWN_ORG ||
            none != NULL)
            w->failures++;
        if (i % 50 == 0)
            provcfg_invalidate(w->pc, "acme");
        provcfg_email_release(email);
        provcfg_sms_release(sms);
    }
    return NULL;
}

/* Many threads through one loader with a TTL short enough to refresh under their feet. */
static void test_provcfg_threads(void)
{
    db_t *db = testdb_connect(g_conninfo, APP_NAME, STATEMENT_MS);
    REQUIRE(db != NULL);
    char errstr[512];
    provcfg_t *pc = provcfg_new(db, g_ring, 2, errstr, sizeof(errstr));
    REQUIRE(pc != NULL);
    provcfg_worker_t workers[6];
    pthread_t threads[6];
    for (int i = 0; i < 6; i++) {
        workers[i] = (provcfg_worker_t){.pc = pc};
        pthread_create(&threads[i], NULL, provcfg_worker_run, &workers[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(threads[i], NULL);
        CHECK_INT(workers[i].failures, 0);
    }
    provcfg_destroy(pc);
    db_destroy(db);
}

/* The database goes away (here: the network to it): a retryable error, then recovery. */
static void test_database_outage(void)
{
    proxy_t proxy = {0};
    REQUIRE(proxy_target(&proxy));
    REQUIRE(proxy_start(&proxy, 0));
    char port[16];
    snprintf(port, sizeof(port), "%d", proxy.port);
    char *conninfo = conninfo_for(g_schema, "127.0.0.1", port);
    db_t *db = testdb_connect(conninfo, APP_NAME, STATEMENT_MS);
    char errstr[512];
    provcfg_t *pc = db ? provcfg_new(db, g_ring, 0, errstr, sizeof(errstr)) : NULL;
    const provcfg_email_t *email = NULL;
    if (pc == NULL)
        goto out;
    CHECK_INT(provcfg_get_email(pc, "acme", &email, errstr, sizeof(errstr)), PROVCFG_OK);
    provcfg_email_release(email);

    proxy_stop(&proxy);
    db_err_t err = db_ping(db, errstr, sizeof(errstr));
    CHECK_INT(err, DB_ERR_CONN);
    CHECK(db_retryable(db, err));
    CHECK_INT(provcfg_get_email(pc, "acme", &email, errstr, sizeof(errstr)), PROVCFG_ERR_DB);
    CHECK(email == NULL);
    CHECK(errstr[0] != '\0');

    REQUIRE(proxy_start(&proxy, proxy.port));
    CHECK_INT(provcfg_get_email(pc, "acme", &email, errstr, sizeof(errstr)), PROVCFG_OK);
    if (email != NULL)
        CHECK_STR(email->smtp_password, SMTP_PASSWORD);
    provcfg_email_release(email);
out:
    CHECK(pc != NULL);
    provcfg_destroy(pc);
    db_destroy(db);
    proxy_stop(&proxy);
    free(conninfo);
}

int main(void)
{
    g_url = getenv("DATABASE_URL");
    if (g_url == NULL || g_url[0] == '\0') {
        fprintf(stderr, "DATABASE_URL is not set: run this through scripts/test, which starts "
                        "PostgreSQL and exports it\n");
        return 1;
    }
    log_set_fd(2);
    char errstr[512];
    g_ring = secret_ring_new(TEST_KEYS, "k1", errstr, sizeof(errstr));
    g_admin = testdb_connect(g_url, APP_NAME, 30000);
    if (g_ring == NULL || g_admin == NULL) {
        fprintf(stderr, "setup failed: %s\n", g_ring ? "no database" : errstr);
        return 1;
    }
    snprintf(g_schema, sizeof(g_schema), "test_db_%ld", (long)getpid());
    char sql[128];
    snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", g_schema);
    if (testdb_run(g_admin, sql, 0, NULL) != DB_OK)
        return 1;
    g_conninfo = conninfo_for(g_schema, NULL, NULL);
    if (g_conninfo == NULL)
        return 1;

    TEST_RUN(test_migrate_twice);
    TEST_RUN(test_migrate_refuses_edited_file);
    TEST_RUN(test_migrate_concurrent);
    TEST_RUN(test_constraints);
    TEST_RUN(test_sql_errors_and_timeouts);
    TEST_RUN(test_reconnect_after_terminate);
    TEST_RUN(test_provcfg_outcomes);
    TEST_RUN(test_provcfg_cache_expiry);
    TEST_RUN(test_provcfg_negative_cache);
    TEST_RUN(test_provcfg_threads);
    TEST_RUN(test_database_outage);

    snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", g_schema);
    testdb_run(g_admin, sql, 0, NULL);
    db_destroy(g_admin);
    secret_ring_destroy(g_ring);
    free(g_conninfo);
    return TEST_EXIT();
}
