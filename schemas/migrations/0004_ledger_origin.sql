-- Who holds a reservation, and since when: what common/ledger.c needs to tell a request
-- replayed after a crash from a second request with the same key, and a reservation whose
-- holder died from one that is merely slow. Every column is nullable or defaulted, so rows
-- written before this migration stay valid (the ledger treats their NULLs as "unknown
-- holder, unknown age").

-- The Kafka coordinates "<topic>/<partition>/<offset>" of the request that holds the row.
-- A retry copy carries the coordinates of the request it copies (x-original-* headers), so
-- a request and all its retries share one origin.
ALTER TABLE delivery_ledger ADD COLUMN origin text;

-- When the row last entered SENDING; NULL in every other state. A SENDING row older than
-- the ledger's stale limit is taken over by another request with the same key.
ALTER TABLE delivery_ledger ADD COLUMN sending_since timestamptz;

-- True when the latest reservation took the row over while it was still SENDING (the
-- request replayed after a crash, or a stale holder): the provider may then have the
-- message twice, and a SENT row keeps only the last provider_message_id. Operators use it
-- to find possible duplicates; the ledger returns it to tell LEDGER_RESEND from LEDGER_SEND.
ALTER TABLE delivery_ledger ADD COLUMN resend boolean NOT NULL DEFAULT false;
