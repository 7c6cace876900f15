-- The idempotency ledger: one row per (org_id, channel, idempotency_key), moving
-- RESERVED -> SENDING -> SENT | FAILED. A key already SENT is never sent again (status
-- DUPLICATE). provider_message_id maps a provider's callback back to our message_id, so it
-- is unique per provider once known.

CREATE TABLE delivery_ledger (
    org_id              text        NOT NULL,
    channel             text        NOT NULL,
    idempotency_key     text        NOT NULL,
    message_id          text        NOT NULL,
    state               text        NOT NULL DEFAULT 'RESERVED',
    provider            text        NOT NULL,
    provider_message_id text,
    attempts            integer     NOT NULL DEFAULT 0,
    last_error_code     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT delivery_ledger_pkey PRIMARY KEY (org_id, channel, idempotency_key),
    CONSTRAINT delivery_ledger_org_id_check CHECK (char_length(org_id) BETWEEN 1 AND 64),
    CONSTRAINT delivery_ledger_channel_check CHECK (channel IN ('email', 'sms')),
    CONSTRAINT delivery_ledger_idempotency_key_check
        CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    CONSTRAINT delivery_ledger_message_id_check CHECK (char_length(message_id) BETWEEN 1 AND 128),
    CONSTRAINT delivery_ledger_state_check
        CHECK (state IN ('RESERVED', 'SENDING', 'SENT', 'FAILED')),
    -- Each channel has its own providers; a mismatch is a bug in the writer.
    CONSTRAINT delivery_ledger_provider_check CHECK (
        (channel = 'email' AND provider = 'SMTP')
        OR (channel = 'sms' AND provider IN ('TWILIO', 'AWS_SNS'))),
    CONSTRAINT delivery_ledger_attempts_check CHECK (attempts >= 0)
);

-- Webhook correlation: the provider's id finds the row; partial, because the id is only
-- known once the provider has accepted the message.
CREATE UNIQUE INDEX delivery_ledger_provider_message_id_key
    ON delivery_ledger (provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;

-- Generic callbacks may name our message_id instead of the provider's.
CREATE INDEX delivery_ledger_org_id_message_id_idx ON delivery_ledger (org_id, message_id);

CREATE TRIGGER delivery_ledger_touch BEFORE UPDATE ON delivery_ledger
    FOR EACH ROW EXECUTE FUNCTION notify_touch_updated_at();
