-- Provider callbacks already turned into status events, so a provider's retry of a callback
-- we did acknowledge (Twilio repeats them with the same I-Twilio-Idempotency-Token, SNS with
-- the same MessageId) does not publish a second event. webhook-ingest writes a row only
-- after Kafka acknowledged the event: a callback whose event was not acknowledged leaves no
-- row and is processed again when the provider retries, so nothing is lost, and two copies
-- of one callback arriving at the same instant may both publish (status events are at
-- least once, as the README says).
CREATE TABLE webhook_callback_dedupe (
    org_id     text        NOT NULL,
    -- "twilio:<token>", "twilio:<sid>/<status>/<error code>", "sns:<MessageId>"
    dedupe_key text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, dedupe_key)
);

-- Providers stop retrying within a day; rows older than that can be deleted by age.
CREATE INDEX webhook_callback_dedupe_created_at_idx ON webhook_callback_dedupe (created_at);
