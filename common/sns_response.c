#include "sns_response.h"

#include <expat.h>
#include <stdio.h>
#include <string.h>

/* Deeper documents are not SNS answers; the stack of names stops there. */
#define SNS_RESPONSE_MAX_DEPTH 16

#define SNS_RESPONSE_THROTTLE 1u /* throttle the organisation (throttle_until) */

/*
 * The error table, as data. Rows are tried in order and the first that matches decides: a
 * row matches when `code` is NULL or equal to the wire code, and `message_has` is NULL or
 * found in the error message. So the rows that look into messages (SNS reports a bad body
 * as InvalidParameter with the reason in the text) come before the row for their code.
 * Sources: Publish's modeled errors and the common errors (reference/providers.md 4).
 */
typedef struct sns_response_rule_s {
    const char *code;
    const char *message_has;
    errcode_t err;
    unsigned flags;
    const char *hint; /* operator action when only a person can fix it */
} sns_response_rule_t;

#define SNS_RESPONSE_HINT_KEYS                                                               \
    "AWS does not accept the organisation's access key: check aws_access_key_encrypted and " \
    "aws_secret_key_encrypted in sms_provider_config"
#define SNS_RESPONSE_HINT_SIG                                                                  \
    "AWS computed another signature: the secret key does not belong to the access key (check " \
    "aws_secret_key_encrypted), or the endpoint/region is wrong"
#define SNS_RESPONSE_HINT_TOKEN \
    "the temporary credentials expired: store fresh aws_session_token_encrypted and keys"
#define SNS_RESPONSE_HINT_PERM "the IAM identity lacks sns:Publish permission for SMS"
#define SNS_RESPONSE_HINT_CLOCK \
    "the request time is more than 15 minutes away from AWS's: check this host's clock (NTP)"
#define SNS_RESPONSE_HINT_KMS "the KMS key used by SNS is unusable for this account"

static const sns_response_rule_t sns_response_rules[] = {
    /* Opt-outs, whatever the code (Publish does not model one; the text is what tells). */
    {"OptedOut", NULL, ERRCODE_AWS_OPTED_OUT, 0, NULL},
    {NULL, "opted out", ERRCODE_AWS_OPTED_OUT, 0, NULL},
    /* The message itself: too long, empty, or not deliverable as an SMS. */
    {"InvalidParameter", "Message too long", ERRCODE_AWS_INVALID_SMS, 0, NULL},
    {"InvalidParameter", "Empty message", ERRCODE_AWS_INVALID_SMS, 0, NULL},
    {"InvalidParameter", "SMS message", ERRCODE_AWS_INVALID_SMS, 0, NULL},
    {"InvalidParameter", "Invalid parameter: Message", ERRCODE_AWS_INVALID_SMS, 0, NULL},
    /* Throttling. Throttled (429) is missing from botocore's standard retry list; here it
     * throttles like the others. KMSThrottling is AWS's own key service being busy: retry,
     * but it says nothing about the organisation's rate. */
    {"Throttling", NULL, ERRCODE_AWS_THROTTLING, SNS_RESPONSE_THROTTLE, NULL},
    {"ThrottlingException", NULL, ERRCODE_AWS_THROTTLING, SNS_RESPONSE_THROTTLE, NULL},
    {"Throttled", NULL, ERRCODE_AWS_THROTTLING, SNS_RESPONSE_THROTTLE, NULL},
    {"TooManyRequestsException", NULL, ERRCODE_AWS_THROTTLING, SNS_RESPONSE_THROTTLE, NULL},
    {"RequestLimitExceeded", NULL, ERRCODE_AWS_THROTTLING, SNS_RESPONSE_THROTTLE, NULL},
    {"KMSThrottling", NULL, ERRCODE_AWS_THROTTLING, 0, NULL},
    /* AWS's side. */
    {"InternalError", NULL, ERRCODE_AWS_INTERNAL_ERROR, 0, NULL},
    {"InternalFailure", NULL, ERRCODE_AWS_INTERNAL_ERROR, 0, NULL},
    {"ServiceUnavailable", NULL, ERRCODE_AWS_INTERNAL_ERROR, 0, NULL},
    {"RequestTimeout", NULL, ERRCODE_TIMEOUT, 0, NULL},
    /* Parameters. ParameterValueInvalid is the wire code of InvalidParameterValueException. */
    {"InvalidParameter", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, NULL},
    {"ParameterValueInvalid", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, NULL},
    {"InvalidParameterValue", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, NULL},
    {"ValidationException", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, NULL},
    {"MissingParameter", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, NULL},
    {"NotFound", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, NULL},
    {"EndpointDisabled", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, NULL},
    /* Credentials and signatures: nothing a retry can fix; a person must. */
    {"InvalidClientTokenId", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_KEYS},
    {"UnrecognizedClientException", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_KEYS},
    {"MissingAuthenticationToken", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_KEYS},
    {"SignatureDoesNotMatch", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_SIG},
    {"IncompleteSignature", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_SIG},
    {"InvalidSecurity", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_SIG},
    {"ExpiredToken", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_TOKEN},
    {"ExpiredTokenException", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_TOKEN},
    {"InvalidToken", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_TOKEN},
    {"AuthorizationError", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_PERM},
    {"AccessDenied", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_PERM},
    {"AccessDeniedException", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_PERM},
    {"RequestExpired", NULL, ERRCODE_AUTH_FAILED, 0, SNS_RESPONSE_HINT_CLOCK},
    {"KMSDisabled", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, SNS_RESPONSE_HINT_KMS},
    {"KMSInvalidState", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, SNS_RESPONSE_HINT_KMS},
    {"KMSNotFound", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, SNS_RESPONSE_HINT_KMS},
    {"KMSAccessDenied", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, SNS_RESPONSE_HINT_KMS},
    {"KMSOptInRequired", NULL, ERRCODE_AWS_INVALID_PARAMETER, 0, SNS_RESPONSE_HINT_KMS},
};

/* Which text field an element fills, by its parent's and its own local name. */
typedef struct sns_response_field_s {
    const char *parent; /* NULL: any parent */
    const char *name;
    size_t offset;
    size_t size;
} sns_response_field_t;

#define SNS_RESPONSE_FIELD(parent, name, member)                                              \
    {                                                                                         \
        parent, name, offsetof(sns_response_t, member), sizeof(((sns_response_t *)0)->member) \
    }

static const sns_response_field_t sns_response_fields[] = {
    SNS_RESPONSE_FIELD("PublishResult", "MessageId", message_id),
    SNS_RESPONSE_FIELD(NULL, "RequestId", request_id),
    SNS_RESPONSE_FIELD("Error", "Type", error_type),
    SNS_RESPONSE_FIELD("Error", "Code", error_code),
    SNS_RESPONSE_FIELD("Error", "Message", error_message),
};

typedef struct sns_response_parser_s {
    XML_Parser parser;
    sns_response_t *out;
    const char
        *stack[SNS_RESPONSE_MAX_DEPTH]; /* local names, borrowed from sns_response_fields etc. */
    int depth;                          /* may exceed the stack; entries then NULL */
    char *field;                        /* the field being filled, or NULL */
    size_t field_size, field_len;
    int refused;
} sns_response_parser_t;

static const char *sns_response_local(const char *name)
{
    const char *colon = strrchr(name, ':');
    return colon ? colon + 1 : name;
}

/* Names this reader cares about, interned so the stack can borrow them. */
static const char *sns_response_intern(const char *local)
{
    static const char *const known[] = {
        "PublishResponse", "PublishResult", "ErrorResponse", "Error",  "MessageId",
        "RequestId",       "Type",          "Code",          "Message"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strcmp(known[i], local) == 0)
            return known[i];
    return "";
}

static void XMLCALL sns_response_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    sns_response_parser_t *p = ud;
    const char *local = sns_response_intern(sns_response_local(name));
    const char *parent =
        p->depth > 0 && p->depth <= SNS_RESPONSE_MAX_DEPTH ? p->stack[p->depth - 1] : NULL;
    if (p->depth == 0 && strcmp(local, "PublishResponse") == 0)
        p->out->kind = SNS_RESPONSE_PUBLISH;
    if (strcmp(local, "Error") == 0)
        p->out->kind = SNS_RESPONSE_ERROR;
    p->field = NULL;
    for (size_t i = 0; parent && i < sizeof(sns_response_fields) / sizeof(sns_response_fields[0]);
         i++) {
        const sns_response_field_t *f = &sns_response_fields[i];
        if (strcmp(f->name, local) == 0 && (f->parent == NULL || strcmp(f->parent, parent) == 0)) {
            p->field = (char *)p->out + f->offset;
            p->field_size = f->size;
            p->field_len = 0;
            p->field[0] = '\0';
            break;
        }
    }
    if (p->depth < SNS_RESPONSE_MAX_DEPTH)
        p->stack[p->depth] = local;
    p->depth++;
}

static void XMLCALL sns_response_end(void *ud, const XML_Char *name)
{
    sns_response_parser_t *p = ud;
    p->field = NULL;
    p->depth--;
}

/* Text may arrive in pieces; it is appended, and cut at the field's size. */
static void XMLCALL sns_response_text(void *ud, const XML_Char *s, int len)
{
    sns_response_parser_t *p = ud;
    if (p->field == NULL || len <= 0)
        return;
    size_t room = p->field_size - 1 - p->field_len;
    size_t n = (size_t)len < room ? (size_t)len : room;
    memcpy(p->field + p->field_len, s, n);
    p->field_len += n;
    p->field[p->field_len] = '\0';
}

static void XMLCALL sns_response_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
                                         const XML_Char *pubid, int has_internal_subset)
{
    sns_response_parser_t *p = ud;
    p->refused = 1;
    XML_StopParser(p->parser, XML_FALSE);
}

/* Trims the blanks a pretty-printed answer puts around values. */
static void sns_response_trim(char *s)
{
    size_t n = strlen(s), start = 0;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        n--;
    while (start < n &&
           (s[start] == ' ' || s[start] == '\n' || s[start] == '\r' || s[start] == '\t'))
        start++;
    memmove(s, s + start, n - start);
    s[n - start] = '\0';
}

int sns_response_parse(const char *body, size_t len, sns_response_t *out, char *errstr,
                       size_t errstr_size)
{
    int result = -1;
    sns_response_parser_t p;

    memset(out, 0, sizeof(*out));
    memset(&p, 0, sizeof(p));
    p.out = out;
    if (len > SNS_RESPONSE_MAX_BODY) {
        snprintf(errstr, errstr_size, "answer larger than %d bytes", SNS_RESPONSE_MAX_BODY);
        return -1;
    }
    p.parser = XML_ParserCreate("UTF-8");
    if (p.parser == NULL)
        abort();
    XML_SetUserData(p.parser, &p);
    XML_SetElementHandler(p.parser, sns_response_start, sns_response_end);
    XML_SetCharacterDataHandler(p.parser, sns_response_text);
    XML_SetStartDoctypeDeclHandler(p.parser, sns_response_doctype);
    if (XML_Parse(p.parser, body, (int)len, XML_TRUE) != XML_STATUS_OK) {
        if (p.refused)
            snprintf(errstr, errstr_size, "answer has a DOCTYPE");
        else
            snprintf(errstr, errstr_size, "answer is not XML: %s at line %lu",
                     XML_ErrorString(XML_GetErrorCode(p.parser)),
                     (unsigned long)XML_GetCurrentLineNumber(p.parser));
        memset(out, 0, sizeof(*out));
        goto out;
    }
    sns_response_trim(out->message_id);
    sns_response_trim(out->request_id);
    sns_response_trim(out->error_type);
    sns_response_trim(out->error_code);
    sns_response_trim(out->error_message);
    result = 0;
out:
    XML_ParserFree(p.parser);
    return result;
}

static void sns_response_outcome_set(sns_response_outcome_t *out, errcode_t code, bool throttled,
                                     const char *hint)
{
    out->code = code;
    out->retryable = errcode_retryable(code);
    out->throttled = throttled;
    out->hint = hint;
}

void sns_response_classify(int http_status, const sns_response_t *resp, sns_response_outcome_t *out)
{
    if (http_status >= 200 && http_status < 300 && resp && resp->kind == SNS_RESPONSE_PUBLISH &&
        resp->message_id[0]) {
        sns_response_outcome_set(out, ERRCODE_OK, false, NULL);
        return;
    }
    if (resp && resp->error_code[0]) {
        for (size_t i = 0; i < sizeof(sns_response_rules) / sizeof(sns_response_rules[0]); i++) {
            const sns_response_rule_t *r = &sns_response_rules[i];
            if (r->code && strcmp(r->code, resp->error_code) != 0)
                continue;
            if (r->message_has && strstr(resp->error_message, r->message_has) == NULL)
                continue;
            sns_response_outcome_set(out, r->err, (r->flags & SNS_RESPONSE_THROTTLE) != 0, r->hint);
            return;
        }
    }
    /* No code of the table: the status decides. A 2xx without a MessageId means AWS's
     * answer was cut or garbled, which only a retry can resolve. */
    if (http_status == 429)
        sns_response_outcome_set(out, ERRCODE_AWS_THROTTLING, true, NULL);
    else if (http_status == 401 || http_status == 403)
        sns_response_outcome_set(out, ERRCODE_AUTH_FAILED, false, SNS_RESPONSE_HINT_KEYS);
    else if (http_status >= 400 && http_status < 500)
        sns_response_outcome_set(out, ERRCODE_AWS_INVALID_PARAMETER, false, NULL);
    else
        sns_response_outcome_set(out, ERRCODE_AWS_INTERNAL_ERROR, false, NULL);
}
