/*
 * What the database tests and benchmarks share: connection strings that put a test in a
 * schema of its own (so tests running side by side never see each other's rows), and a
 * sleep.
 */
#ifndef NOTIFY_TESTDB_H
#define NOTIFY_TESTDB_H

#include <stddef.h>

#include "db.h"

/*
 * `url` (a URI or key=value string, e.g. DATABASE_URL) rewritten as key=value with
 * client_encoding UTF8 and the keywords in `keys` replaced by `values` (a NULL value
 * removes the keyword); `keys` and `values` end with a NULL key. NULL when `url` does not
 * parse. The caller frees the result.
 */
char *testdb_conninfo(const char *url, const char *const *keys, const char *const *values);

/* `url` with search_path set to `schema` and application_name left to the client. */
char *testdb_conninfo_schema(const char *url, const char *schema);

void testdb_sleep_ms(int ms);

/* A db_t for `conninfo` (5 s to connect); NULL with the reason on stderr. */
db_t *testdb_connect(const char *conninfo, const char *application_name, int statement_ms);

/* Runs SQL with parameters, printing the error (which a test may expect) on stderr. */
db_err_t testdb_run(db_t *db, const char *sql, int nparams, const char *const *values);

/* The one value a query returns, copied into `out` ("" on an error, no row or NULL). */
void testdb_query_value(db_t *db, const char *sql, int nparams, const char *const *values,
                        char *out, size_t out_size);

#endif
