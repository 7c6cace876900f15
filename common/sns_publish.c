#include "sns_publish.h"

#include <stdlib.h>
#include <string.h>

/* The message attributes an SMS Publish carries, as data: the name on the wire, its
 * DataType, and where its value comes from. */
typedef struct sns_publish_attr_s {
    const char *name;
    const char *data_type;
    size_t offset; /* of the value's pointer in sns_publish_t */
} sns_publish_attr_t;

static const sns_publish_attr_t sns_publish_attrs[] = {
    {"AWS.SNS.SMS.SenderID", "String", offsetof(sns_publish_t, sender_id)},
    {"AWS.SNS.SMS.SMSType", "String", offsetof(sns_publish_t, sms_type)},
    {"AWS.SNS.SMS.MaxPrice", "Number", offsetof(sns_publish_t, max_price)},
    {"IdempotencyKey", "String", offsetof(sns_publish_t, idempotency_key)},
};

void sns_publish_encode(FILE *f, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            fputc(c, f);
        } else {
            fputc('%', f);
            fputc(hex[c >> 4], f);
            fputc(hex[c & 15], f);
        }
    }
}

char *sns_publish_body(const sns_publish_t *p, size_t *len)
{
    if (p->phone_number == NULL || p->message == NULL)
        return NULL;
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    if (f == NULL)
        abort();
    fputs("Action=Publish&Version=2010-03-31&PhoneNumber=", f);
    sns_publish_encode(f, p->phone_number);
    fputs("&Message=", f);
    sns_publish_encode(f, p->message);
    int entry = 0;
    for (size_t i = 0; i < sizeof(sns_publish_attrs) / sizeof(sns_publish_attrs[0]); i++) {
        const sns_publish_attr_t *a = &sns_publish_attrs[i];
        const char *value = *(const char *const *)((const char *)p + a->offset);
        if (value == NULL)
            continue;
        entry++;
        fprintf(f, "&MessageAttributes.entry.%d.Name=", entry);
        sns_publish_encode(f, a->name);
        fprintf(f, "&MessageAttributes.entry.%d.Value.DataType=%s", entry, a->data_type);
        fprintf(f, "&MessageAttributes.entry.%d.Value.StringValue=", entry);
        sns_publish_encode(f, value);
    }
    if (fclose(f) != 0)
        abort();
    if (len)
        *len = n;
    return buf;
}
