/*
 * Email addresses: validation of one RFC 5322 addr-spec ("local@domain", without display
 * name, angle brackets or comments) and recipient lists built from a request field.
 *
 * What is accepted:
 *   - local part: a dot-atom (atext runs separated by single dots) or a quoted string of
 *     printable ASCII and space, where '\' quotes the next printable character (RFC 5321's
 *     Quoted-string, which is what SMTP carries); at most 64 octets;
 *   - domain: dot-separated labels of letters, digits and '-' (1-63 octets, no '-' at either
 *     end; one label such as "localhost" is allowed, as RFC 5322 allows it), at most 255
 *     octets; or an address literal "[192.0.2.1]" / "[IPv6:2001:db8::1]";
 *   - at most 254 octets in all (RFC 5321's path limit less the angle brackets).
 * ASCII only: internationalised addresses (SMTPUTF8) are not supported, and an IDN domain
 * must be given in its A-label ("xn--") form. Any control character is rejected, CR, LF
 * and NUL first among them, because an address ends up in a header and in SMTP commands
 * where a line break would inject new ones.
 */
#ifndef NOTIFY_EMAILADDR_H
#define NOTIFY_EMAILADDR_H

#include <stddef.h>

struct json_object;

#define EMAILADDR_MAX_LEN        254
#define EMAILADDR_LOCAL_MAX_LEN  64
#define EMAILADDR_DOMAIN_MAX_LEN 255
#define EMAILADDR_LABEL_MAX_LEN  63

/* Most addresses one list holds. A request bounds to + cc + bcc together by the same
 * number (see request.h): a message is not a mailing list. */
#define EMAILADDR_LIST_MAX 100

/* Return codes besides 0: an address breaks a rule of the syntax (the pipeline reports
 * INVALID_EMAIL), or the field itself is malformed or too long a list (INVALID_REQUEST). */
#define EMAILADDR_ERR_ADDRESS (-1)
#define EMAILADDR_ERR_FORM    (-2)

/*
 * Validates the `len` bytes at `addr` (no NUL needed; an embedded NUL is rejected).
 * Returns 0, or EMAILADDR_ERR_ADDRESS with errstr naming the rule, e.g. "domain label must
 * not end with '-'".
 */
int emailaddr_validate(const char *addr, size_t len, char *errstr, size_t errstr_size);

/* A bounded list of validated addresses. The strings are owned by the list. */
typedef struct emailaddr_list_s {
    char *addrs[EMAILADDR_LIST_MAX];
    size_t count;
} emailaddr_list_t;

/* Empties a list that holds nothing yet (equivalent to zeroing it). */
void emailaddr_list_init(emailaddr_list_t *list);

/* Frees the addresses and empties the list; it can be filled again. */
void emailaddr_list_clear(emailaddr_list_t *list);

/*
 * Appends the addresses of `value`, a request field:
 *   - a string: one address or a comma-separated list; spaces around each address are
 *     dropped, a comma inside a quoted local part does not separate; a string that is
 *     empty or only spaces adds nothing, but an empty element ("a@x.org,,b@x.org") is an
 *     error;
 *   - an array of strings, each one address (spaces around it dropped);
 *   - NULL (absent or JSON null) adds nothing.
 * `path` names the field in messages: "payload.cc[1]: domain must not be empty" (the index
 * counts addresses of this value from 0, in both forms), "payload.cc: must be a string or
 * an array of strings", "payload.cc: more than 100 addresses".
 * Returns 0, EMAILADDR_ERR_ADDRESS (an address, or an empty element, breaks the syntax) or
 * EMAILADDR_ERR_FORM (wrong JSON type, too many addresses), with errstr; on error the list
 * keeps only what it held before the call.
 */
int emailaddr_list_add_json(emailaddr_list_t *list, const char *path,
                            const struct json_object *value, char *errstr, size_t errstr_size);

#endif
