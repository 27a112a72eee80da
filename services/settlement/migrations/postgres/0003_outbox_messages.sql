-- Outbox payloads are protobuf: one `doudi.settlement.v1.SettlementEvent`, binary. Messages the
-- JSON outbox of migration 2 still holds are moved here when the service opens
-- (src/outbox/legacy.rs), so none is lost.
CREATE TABLE outbox_messages (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic TEXT NOT NULL,
    message_key TEXT NOT NULL UNIQUE,
    payload BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX outbox_messages_pending ON outbox_messages (id) WHERE delivered_at IS NULL;
