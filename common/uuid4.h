/* Random (version 4, RFC 9562) UUIDs as text, e.g. for the event_id of status events. */
#ifndef NOTIFY_UUID4_H
#define NOTIFY_UUID4_H

/* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" and its NUL. */
#define UUID4_TEXT_SIZE 37

/*
 * Writes a new random UUID in lower case (y is one of 8, 9, a, b: the RFC variant).
 * 122 bits come from the CSPRNG; like crypto_random_bytes() it aborts if that fails.
 */
void uuid4_generate(char out[UUID4_TEXT_SIZE]);

#endif
