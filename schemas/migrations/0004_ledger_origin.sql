-- The idempotency ledger's batch operations (common/ledger.c): who holds a reservation and
-- since when, and the two statements that reserve and finish a whole batch of keys in one
-- round trip each. Every new column is nullable or defaulted, so rows written before this
-- migration stay valid (the functions treat their NULLs as "unknown holder, unknown age").

-- The Kafka coordinates "<topic>/<partition>/<offset>" of the request that holds the row.
-- A retry copy carries the coordinates of the request it copies (x-original-* headers), so
-- a request and all its retries share one origin.
ALTER TABLE delivery_ledger ADD COLUMN origin text;

-- When the row last entered SENDING; NULL in every other state. A SENDING row older than
-- the ledger's stale limit is taken over by another request with the same key.
ALTER TABLE delivery_ledger ADD COLUMN sending_since timestamptz;

-- True when the latest reservation took the row over while it was still SENDING (the
-- request replayed after a crash, or a holder past the stale limit): the provider may then
-- have the message twice, and a SENT row keeps only the last provider_message_id.
-- Operators use it to find possible duplicates; delivery_ledger_reserve() returns it to
-- tell RESEND from SEND.
ALTER TABLE delivery_ledger ADD COLUMN resend boolean NOT NULL DEFAULT false;

-- Why functions rather than statements prepared by the client: a prepared statement soon
-- runs on a generic plan that is kept until the table's statistics change. Planned while
-- the table was small (a new deployment), it looks up keys with a sequential scan or the
-- (org_id, message_id) index, and keeps doing so while the table grows by thousands of rows
-- a second until autovacuum analyzes it. The queries of an SQL function are planned on
-- every call, against the table's current size, and enable_seqscan = off rules out the
-- plans that hash the whole ledger to join a batch to it. Planning costs well under a
-- millisecond per batch.
--
-- Both functions sort the batch by key before touching rows, so every reservation and
-- every finish locks rows in the same order and two of them cannot deadlock each other.
-- Items arrive as parallel arrays, unnested WITH ORDINALITY so that each result row names
-- the item (1-based position) it answers. A key must not appear twice in one call: the
-- caller removes repeats first (one statement cannot change a row twice).

-- Reserves a batch. For each item, the verdict and the row's attempt count:
--   no row                                      insert SENDING            SEND
--   SENT                                        untouched                 DUPLICATE
--   RESERVED or FAILED                          take it                   SEND
--   SENDING, same origin                        take it                   RESEND
--   SENDING, other origin, older than stale_ms  take it                   RESEND
--   SENDING, other origin, not stale            untouched                 CONFLICT
-- Taking sets state SENDING, origin, message_id, provider, sending_since = now(), resend,
-- and increments attempts.
--
-- INSERT ... ON CONFLICT DO UPDATE ... WHERE does the deciding: PostgreSQL evaluates the
-- WHERE on the newest committed version of an existing row, after waiting for whoever holds
-- it, and locks the row even when the WHERE says no, so two callers can never both take one
-- key. RETURNING sees only the new row, hence the resend column: set from the state the row
-- was taken from, it tells RESEND from SEND. A key that was not taken is looked up in the
-- statement's snapshot: SENT is terminal, so a snapshot showing SENT is the truth
-- (DUPLICATE, with the ids it was sent as); anything else, including a row inserted or
-- changed by another transaction since the snapshot, is CONFLICT, and asking again later
-- gives the final answer.
CREATE FUNCTION delivery_ledger_reserve(org_ids text[], channels text[], keys text[],
                                        message_ids text[], providers text[],
                                        origins text[], stale_ms bigint)
RETURNS TABLE (ord bigint, verdict text, attempts integer, sent_message_id text,
               sent_provider_message_id text)
LANGUAGE sql VOLATILE
SET enable_seqscan = off
AS $$
WITH input AS (
    SELECT *
    FROM unnest(org_ids, channels, keys, message_ids, providers, origins) WITH ORDINALITY
        AS i(org_id, channel, idempotency_key, message_id, provider, origin, ord)
), taken AS (
    INSERT INTO delivery_ledger AS l (org_id, channel, idempotency_key, message_id, state,
                                      provider, origin, sending_since, attempts, resend)
    SELECT org_id, channel, idempotency_key, message_id, 'SENDING', provider, origin, now(),
           1, false
    FROM input
    ORDER BY org_id, channel, idempotency_key
    ON CONFLICT (org_id, channel, idempotency_key) DO UPDATE
    SET state = 'SENDING',
        message_id = EXCLUDED.message_id,
        provider = EXCLUDED.provider,
        origin = EXCLUDED.origin,
        sending_since = now(),
        resend = (l.state = 'SENDING'),
        attempts = l.attempts + 1
    WHERE l.state IN ('RESERVED', 'FAILED')
       OR (l.state = 'SENDING'
           AND (l.origin = EXCLUDED.origin
                -- Rows from before this migration have no sending_since.
                OR coalesce(l.sending_since, l.updated_at)
                   < now() - stale_ms * interval '1 millisecond'))
    RETURNING l.org_id, l.channel, l.idempotency_key, l.resend, l.attempts
)
SELECT i.ord,
       CASE WHEN t.org_id IS NOT NULL THEN CASE WHEN t.resend THEN 'RESEND' ELSE 'SEND' END
            WHEN d.state = 'SENT' THEN 'DUPLICATE'
            ELSE 'CONFLICT' END,
       coalesce(t.attempts, d.attempts, 0),
       CASE WHEN d.state = 'SENT' THEN d.message_id END,
       CASE WHEN d.state = 'SENT' THEN d.provider_message_id END
FROM input i
LEFT JOIN taken t
    ON (t.org_id, t.channel, t.idempotency_key) = (i.org_id, i.channel, i.idempotency_key)
-- One primary-key probe per key that was not taken.
LEFT JOIN LATERAL (
    SELECT d.state, d.attempts, d.message_id, d.provider_message_id
    FROM delivery_ledger d
    WHERE t.org_id IS NULL
      AND (d.org_id, d.channel, d.idempotency_key) = (i.org_id, i.channel, i.idempotency_key)
    LIMIT 1
) d ON true
$$;

-- Records a batch of outcomes: state := SENT (with provider_message_id), FAILED or RESERVED
-- (with last_error_code), each only where the row is still SENDING with the item's origin
-- and, when the item's attempts is not 0, that attempt count. Result per item:
--   APPLIED          recorded
--   APPLIED_NO_PMID  SENT recorded without the provider_message_id, which another row holds
--   TAKEN_OVER       not recorded: the row is no longer this reservation's, or is gone
--
-- provider_message_id has a unique index per provider, and an UPDATE cannot say ON
-- CONFLICT: one colliding id would fail the whole batch. So the SET leaves out an id that
-- another row already holds (as the snapshot shows it); the row still becomes SENT, which
-- is what keeps the key from being sent again. An id committed by another transaction
-- after the snapshot still fails the statement (unique_violation); the caller runs it
-- again, and the check then sees it.
--
-- An item the UPDATE did not touch is looked up: a row already in the item's state with its
-- origin (and attempts) is this very outcome, written by an earlier run of the same call
-- whose reply was lost, and is reported as applied again.
CREATE FUNCTION delivery_ledger_finish(org_ids text[], channels text[], keys text[],
                                       origins text[], states text[], attempt_counts integer[],
                                       provider_message_ids text[], error_codes text[])
RETURNS TABLE (ord bigint, result text)
LANGUAGE sql VOLATILE
SET enable_seqscan = off
AS $$
WITH input AS (
    SELECT *
    FROM unnest(org_ids, channels, keys, origins, states, attempt_counts,
                provider_message_ids, error_codes) WITH ORDINALITY
        AS i(org_id, channel, idempotency_key, origin, state, attempts, provider_message_id,
             last_error_code, ord)
), done AS (
    UPDATE delivery_ledger AS l
    SET state = i.state,
        sending_since = NULL,
        provider_message_id = CASE
            WHEN i.state <> 'SENT' THEN l.provider_message_id
            WHEN NOT EXISTS (
                SELECT 1 FROM delivery_ledger o
                WHERE o.provider = l.provider
                  AND o.provider_message_id = i.provider_message_id
                  AND (o.org_id, o.channel, o.idempotency_key)
                      <> (l.org_id, l.channel, l.idempotency_key))
            THEN i.provider_message_id END,
        last_error_code = CASE WHEN i.state = 'SENT' THEN l.last_error_code
                               ELSE i.last_error_code END
    -- In key order, like the reservations (see above).
    FROM (SELECT * FROM input ORDER BY org_id, channel, idempotency_key) i
    WHERE (l.org_id, l.channel, l.idempotency_key) = (i.org_id, i.channel, i.idempotency_key)
      AND l.state = 'SENDING'
      AND l.origin = i.origin
      AND (i.attempts = 0 OR l.attempts = i.attempts)
    RETURNING i.ord, l.provider_message_id
)
SELECT i.ord,
       CASE WHEN d.ord IS NOT NULL THEN
                CASE WHEN i.state = 'SENT'
                          AND d.provider_message_id IS DISTINCT FROM i.provider_message_id
                     THEN 'APPLIED_NO_PMID' ELSE 'APPLIED' END
            WHEN s.state = i.state AND s.origin = i.origin
                 AND (i.attempts = 0 OR s.attempts = i.attempts) THEN
                CASE WHEN i.state <> 'SENT'
                          OR s.provider_message_id IS NOT DISTINCT FROM i.provider_message_id
                     THEN 'APPLIED'
                     WHEN s.provider_message_id IS NULL THEN 'APPLIED_NO_PMID'
                     ELSE 'TAKEN_OVER' END
            ELSE 'TAKEN_OVER' END
FROM input i
LEFT JOIN done d ON d.ord = i.ord
LEFT JOIN LATERAL (
    SELECT s.state, s.origin, s.attempts, s.provider_message_id
    FROM delivery_ledger s
    WHERE d.ord IS NULL
      AND (s.org_id, s.channel, s.idempotency_key) = (i.org_id, i.channel, i.idempotency_key)
    LIMIT 1
) s ON true
$$;
