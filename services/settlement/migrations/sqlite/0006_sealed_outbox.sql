-- A message carrying personal data (a premium subsidy names the person) is sealed to its row
-- (`crypto::Place` of outbox_messages.payload and its key); others stay plain protobuf.
ALTER TABLE outbox_messages ADD COLUMN sealed BIGINT NOT NULL DEFAULT 0;
