/*
 * The body of an SNS Publish to a phone number over the Query API (reference/providers.md
 * section 4): application/x-www-form-urlencoded, in the order botocore writes it
 *
 *   Action=Publish&Version=2010-03-31&PhoneNumber=...&Message=...
 *   &MessageAttributes.entry.N.Name=...&MessageAttributes.entry.N.Value.DataType=...
 *   &MessageAttributes.entry.N.Value.StringValue=...
 *
 * with N counting from 1 over the attributes present, in this fixed order:
 * AWS.SNS.SMS.SenderID (String), AWS.SNS.SMS.SMSType (String), AWS.SNS.SMS.MaxPrice
 * (Number), IdempotencyKey (String). Values are percent-encoded as botocore does (every
 * byte but A-Z a-z 0-9 - _ . ~), so '+' is "%2B" and a space "%20"; the signature hashes
 * these exact bytes.
 */
#ifndef NOTIFY_SNS_PUBLISH_H
#define NOTIFY_SNS_PUBLISH_H

#include <stddef.h>
#include <stdio.h>

/* The Content-Type that goes with the body (and is signed). */
#define SNS_PUBLISH_CONTENT_TYPE "application/x-www-form-urlencoded; charset=utf-8"

typedef struct sns_publish_s {
    const char *phone_number;    /* E.164, required */
    const char *message;         /* UTF-8, required */
    const char *sender_id;       /* NULL: not sent */
    const char *sms_type;        /* "Transactional" / "Promotional"; NULL: not sent */
    const char *max_price;       /* decimal text, USD; NULL: not sent */
    const char *idempotency_key; /* NULL: not sent */
} sns_publish_t;

/*
 * The form-encoded body, malloc'd and NUL-terminated; its length in *len (may be NULL).
 * Returns NULL when phone_number or message is NULL.
 */
char *sns_publish_body(const sns_publish_t *p, size_t *len);

/* Writes the percent-encoding of `s` to `f`. */
void sns_publish_encode(FILE *f, const char *s);

#endif
