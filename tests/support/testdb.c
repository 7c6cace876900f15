#include "testdb.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Appends key='value', quoted as libpq's conninfo parser expects. */
static void testdb_append(char **buf, size_t *len, size_t *cap, const char *key, const char *value)
{
    size_t need = *len + strlen(key) + 2 * strlen(value) + 8;
    if (need > *cap) {
        *cap = need * 2;
        *buf = realloc(*buf, *cap);
        if (*buf == NULL)
            abort();
    }
    char *p = *buf + *len;
    p += snprintf(p, *cap - *len, "%s%s='", *len ? " " : "", key);
    for (const char *v = value; *v; v++) {
        if (*v == '\'' || *v == '\\')
            *p++ = '\\';
        *p++ = *v;
    }
    *p++ = '\'';
    *p = '\0';
    *len = (size_t)(p - *buf);
}

char *testdb_conninfo(const char *url, const char *const *keys, const char *const *values)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    if (opts == NULL) {
        PQfreemem(err);
        return NULL;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    testdb_append(&buf, &len, &cap, "client_encoding", "UTF8");
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        bool replaced = strcmp(o->keyword, "client_encoding") == 0;
        for (size_t i = 0; keys[i]; i++)
            replaced = replaced || strcmp(keys[i], o->keyword) == 0;
        if (!replaced && o->val != NULL && o->val[0] != '\0')
            testdb_append(&buf, &len, &cap, o->keyword, o->val);
    }
    for (size_t i = 0; keys[i]; i++)
        if (values[i] != NULL)
            testdb_append(&buf, &len, &cap, keys[i], values[i]);
    PQconninfoFree(opts);
    return buf;
}

char *testdb_conninfo_schema(const char *url, const char *schema)
{
    char options[160];
    snprintf(options, sizeof(options), "-c search_path=%s", schema);
    const char *keys[] = {"options", "application_name", NULL};
    const char *values[] = {options, NULL, NULL};
    return testdb_conninfo(url, keys, values);
}

void testdb_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

db_t *testdb_connect(const char *conninfo, const char *application_name, int statement_ms)
{
    char errstr[512];
    db_t *db = db_new(conninfo, application_name, 5000, statement_ms, errstr, sizeof(errstr));
    if (db == NULL)
        fprintf(stderr, "db_new: %s\n", errstr);
    return db;
}

db_err_t testdb_run(db_t *db, const char *sql, int nparams, const char *const *values)
{
    char errstr[512];
    db_err_t err = db_exec_params(db, sql, nparams, values, NULL, errstr, sizeof(errstr));
    if (err != DB_OK)
        fprintf(stderr, "  (expected or not) %s: %s\n", db_err_name(err), errstr);
    return err;
}

void testdb_query_value(db_t *db, const char *sql, int nparams, const char *const *values,
                        char *out, size_t out_size)
{
    char errstr[512];
    PGresult *res = NULL;
    out[0] = '\0';
    if (db_exec_params(db, sql, nparams, values, &res, errstr, sizeof(errstr)) != DB_OK) {
        fprintf(stderr, "query %s: %s\n", sql, errstr);
        return;
    }
    if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
        snprintf(out, out_size, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}
