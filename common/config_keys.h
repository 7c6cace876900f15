/*
 * The one table of settings. Each row:
 *   X(ID, type, default, min, max, choices, binaries, flags, doc)
 * The environment variable and the flag are both named ID (--ID=value or --id=value).
 * Topic names for retry tiers and dead letters derive from the base topic:
 * <base>.retry.60s ... <base>.retry.3600s and <base>.dlq.
 */
#ifndef NOTIFY_CONFIG_KEYS_H
#define NOTIFY_CONFIG_KEYS_H

#define CFG_KEYS(X)                                                                                \
    X(KAFKA_BOOTSTRAP_SERVERS, CFG_TYPE_STRING, "127.0.0.1:9092", 0, 0, NULL,                      \
      CFG_BIN_WORKERS | CFG_BIN_WEBHOOK | CFG_BIN_CTL, CFG_FLAG_REQUIRED,                          \
      "Kafka broker list (host:port,...). Any other KAFKA_<PROPERTY> passes through to "           \
      "librdkafka as <property>.")                                                                 \
    X(DATABASE_URL, CFG_TYPE_STRING, "", 0, 0, NULL, CFG_BIN_ALL, CFG_FLAG_SECRET,                 \
      "PostgreSQL connection string or URI (libpq).")                                              \
    X(SECRET_KEYS, CFG_TYPE_STRING, "", 0, 0, NULL, CFG_BIN_ALL, CFG_FLAG_SECRET,                  \
      "Key ring for *_encrypted columns: id:base64key,id:base64key (32-byte AES-256 keys).")       \
    X(SECRET_KEYS_FILE, CFG_TYPE_STRING, "", 0, 0, NULL, CFG_BIN_ALL, 0,                           \
      "File holding the key ring in the SECRET_KEYS form (used when SECRET_KEYS is empty).")       \
    X(SECRET_ACTIVE_KEY, CFG_TYPE_STRING, "", 0, 0, NULL, CFG_BIN_ALL, 0,                          \
      "Id of the key used to encrypt; decryption accepts every key of the ring.")                  \
    X(HTTP_ADDR, CFG_TYPE_HOSTPORT, "0.0.0.0:8080", 0, 0, NULL, CFG_BIN_WORKERS | CFG_BIN_WEBHOOK, \
      0, "Where /healthz, /readyz, /metrics (and webhook-ingest's routes) listen.")                \
    X(LOG_LEVEL, CFG_TYPE_ENUM, "info", 0, 0, "debug|info|warn|error", CFG_BIN_ALL, 0,             \
      "Least severe level written; logs are one JSON object a line on stdout.")                    \
    X(TOPIC_EMAIL, CFG_TYPE_STRING, "outbound.email", 0, 0, NULL, CFG_BIN_EMAIL | CFG_BIN_CTL, 0,  \
      "Email send requests (base of its retry tiers and DLQ).")                                    \
    X(TOPIC_SMS_TWILIO, CFG_TYPE_STRING, "outbound.sms.twilio", 0, 0, NULL,                        \
      CFG_BIN_TWILIO | CFG_BIN_CTL, 0, "Twilio SMS send requests (base of its tiers and DLQ).")    \
    X(TOPIC_SMS_SNS, CFG_TYPE_STRING, "outbound.sms.sns", 0, 0, NULL, CFG_BIN_SNS | CFG_BIN_CTL,   \
      0, "AWS SNS SMS send requests (base of its retry tiers and DLQ).")                           \
    X(TOPIC_STATUS, CFG_TYPE_STRING, "delivery.status", 0, 0, NULL,                                \
      CFG_BIN_WORKERS | CFG_BIN_WEBHOOK | CFG_BIN_CTL, 0, "Status events.")                        \
    X(TOPIC_AUTO_CREATE, CFG_TYPE_BOOL, "true", 0, 0, NULL, CFG_BIN_WORKERS | CFG_BIN_WEBHOOK, 0,  \
      "Create this binary's missing topics at start-up (broker defaults for partitions).")         \
    X(PUBLIC_BASE_URL, CFG_TYPE_URL, "", 0, 0, NULL, CFG_BIN_TWILIO | CFG_BIN_WEBHOOK, 0,          \
      "URL at which providers reach webhook-ingest; callback signatures cover this URL.")          \
    X(TWILIO_API_BASE_URL, CFG_TYPE_URL, "https://api.twilio.com", 0, 0, NULL, CFG_BIN_TWILIO, 0,  \
      "Twilio REST API base (regional edge or simulator).")                                        \
    X(TWILIO_MAX_CONNECTIONS, CFG_TYPE_INT, "64", 1, 10000, NULL, CFG_BIN_TWILIO, 0,               \
      "Connections to the Twilio API kept open at once; more requests wait for one.")              \
    X(TWILIO_TIMEOUT_MS, CFG_TYPE_INT, "15000", 100, 600000, NULL, CFG_BIN_TWILIO, 0,              \
      "Time allowed for one Twilio request, connection included; beyond it: TIMEOUT.")             \
    X(SNS_ENDPOINT_URL, CFG_TYPE_URL, "", 0, 0, NULL, CFG_BIN_SNS, 0,                              \
      "AWS SNS endpoint; empty means https://sns.<region>.amazonaws.com/.")                        \
    X(SNS_MAX_CONNECTIONS, CFG_TYPE_INT, "64", 1, 10000, NULL, CFG_BIN_SNS, 0,                     \
      "Connections to SNS open at once (one curl multi handle; more requests queue).")             \
    X(SNS_TIMEOUT_MS, CFG_TYPE_INT, "15000", 100, 600000, NULL, CFG_BIN_SNS, 0,                    \
      "One SNS Publish, connection included; beyond it the attempt fails with TIMEOUT.")           \
    X(PROVIDER_CONFIG_TTL_MS, CFG_TYPE_INT, "30000", 0, 3600000, NULL,                             \
      CFG_BIN_WORKERS | CFG_BIN_WEBHOOK, 0,                                                        \
      "How long a decrypted provider config row is cached before it is read again.")               \
    X(DB_CONNECT_TIMEOUT_MS, CFG_TYPE_INT, "5000", 100, 600000, NULL, CFG_BIN_ALL, 0,              \
      "Timeout for one PostgreSQL connection attempt.")                                            \
    X(CONSUMER_GROUP, CFG_TYPE_STRING, "", 0, 0, NULL, CFG_BIN_WORKERS, 0,                         \
      "Kafka consumer group; empty means the binary's name (email-worker, ...).")                  \
    X(MAX_IN_FLIGHT, CFG_TYPE_INT, "5000", 1, 1000000, NULL, CFG_BIN_WORKERS, 0,                   \
      "Messages a worker holds at once; consumption pauses when reached, resumes at half.")        \
    X(MAX_IN_FLIGHT_PER_PARTITION, CFG_TYPE_INT, "1000", 1, 1000000, NULL, CFG_BIN_WORKERS, 0,     \
      "Messages of one partition held at once; that partition pauses when reached.")               \
    X(RETRY_DELAYS_MS, CFG_TYPE_STRING, "60000,300000,900000,3600000", 0, 0, NULL,                 \
      CFG_BIN_WORKERS, 0,                                                                          \
      "Delays of the four retry tiers; the topic names keep the nominal 60s..3600s.")              \
    X(DRAIN_GRACE_MS, CFG_TYPE_INT, "20000", 0, 600000, NULL, CFG_BIN_WORKERS, 0,                  \
      "On SIGTERM or a revocation, how long in-flight messages may take to finish.")               \
    X(LEDGER_STALE_MS, CFG_TYPE_INT, "600000", 1000, 86400000, NULL, CFG_BIN_WORKERS, 0,           \
      "A reservation SENDING this long by another request is taken over.")                         \
    X(DB_STATEMENT_TIMEOUT_MS, CFG_TYPE_INT, "10000", 100, 3600000, NULL, CFG_BIN_ALL, 0,          \
      "Server-side statement_timeout for every query.")                                            \
    X(WEBHOOK_BODY_LIMIT, CFG_TYPE_INT, "1048576", 1024, 67108864, NULL, CFG_BIN_WEBHOOK, 0,       \
      "Largest callback body accepted (bytes); a larger one is answered 413.")                     \
    X(WEBHOOK_MAX_CONNECTIONS, CFG_TYPE_INT, "512", 1, 10000, NULL, CFG_BIN_WEBHOOK, 0,            \
      "Concurrent callback connections; more are refused.")                                        \
    X(WEBHOOK_KAFKA_TIMEOUT_MS, CFG_TYPE_INT, "10000", 1000, 300000, NULL, CFG_BIN_WEBHOOK, 0,     \
      "How long a callback waits for Kafka to acknowledge its status event before 503.")           \
    X(WEBHOOK_REPLAY_WINDOW_S, CFG_TYPE_INT, "300", 1, 86400, NULL, CFG_BIN_WEBHOOK, 0,            \
      "A signed X-Webhook-Timestamp further than this from now is refused as a replay.")           \
    X(WEBHOOK_DB_POOL, CFG_TYPE_INT, "8", 1, 64, NULL, CFG_BIN_WEBHOOK, 0,                         \
      "PostgreSQL connections for ledger correlation and callback de-duplication.")                \
    X(SNS_CERT_HOST_PATTERN, CFG_TYPE_STRING,                                                      \
      "^sns\\.[a-zA-Z0-9-]{3,}\\.amazonaws\\.com(\\.cn)?$", 0, 0, NULL, CFG_BIN_WEBHOOK, 0,        \
      "POSIX extended regex the host (with :port when the URL has one) of SigningCertURL and "     \
      "SubscribeURL must match.")                                                                  \
    X(SNS_CERT_CA_FILE, CFG_TYPE_STRING, "", 0, 0, NULL, CFG_BIN_WEBHOOK, 0,                       \
      "CA bundle for fetching SNS certificates; empty means the system store.")                    \
    X(SNS_SUBSCRIBE_MODE, CFG_TYPE_ENUM, "confirm", 0, 0, "confirm|return", CFG_BIN_WEBHOOK, 0,    \
      "SubscriptionConfirmation: confirm (GET SubscribeURL) or return the URL in the answer.")     \
    X(SMTP_TIMEOUT_MS, CFG_TYPE_INT, "30000", 1000, 600000, NULL, CFG_BIN_EMAIL, 0,                \
      "SMTP: timeout for connecting and for each reply of the server.")                            \
    X(SMTP_IDLE_MS, CFG_TYPE_INT, "60000", 1000, 3600000, NULL, CFG_BIN_EMAIL, 0,                  \
      "SMTP: an idle pooled connection is closed (QUIT) after this long.")

#endif
