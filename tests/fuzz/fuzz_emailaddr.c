/*
 * Email addresses (emailaddr.h): one addr-spec, and the same bytes as a request's cc
 * string. A valid address fits the length limits, has an '@' and no byte that could
 * break a header or an SMTP command; a list holds only addresses that validate alone.
 */
#include "emailaddr.h"
#include "fuzz.h"

#include <json-c/json.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    if (emailaddr_validate((const char *)data, size, err, sizeof err) == 0) {
        FUZZ_CHECK(size >= 3 && size <= EMAILADDR_MAX_LEN);
        FUZZ_CHECK(memchr(data, '@', size) != NULL);
        for (size_t i = 0; i < size; i++) {
            FUZZ_CHECK(data[i] >= 0x20 && data[i] < 0x7f);
        }
    }
    json_object *str = json_object_new_string_len((const char *)data, (int)size);
    emailaddr_list_t list;
    emailaddr_list_init(&list);
    if (emailaddr_list_add_json(&list, "payload.cc", str, err, sizeof err) == 0) {
        FUZZ_CHECK(list.count <= EMAILADDR_LIST_MAX);
        for (size_t i = 0; i < list.count; i++) {
            const char *a = list.addrs[i];
            FUZZ_CHECK(emailaddr_validate(a, strlen(a), err, sizeof err) == 0);
        }
    } else {
        FUZZ_CHECK(list.count == 0);
    }
    emailaddr_list_clear(&list);
    json_object_put(str);
    return 0;
}
