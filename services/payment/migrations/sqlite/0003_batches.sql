-- Bank batches: one file each, recorded with the instructions it carries in the same
-- transaction that marks them SENT. An instruction is in at most one open batch.
CREATE TABLE batches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    batch_ref TEXT NOT NULL UNIQUE,
    format TEXT NOT NULL,
    fund TEXT,
    file_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    count BIGINT NOT NULL,
    sum_fen BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
ALTER TABLE instructions ADD COLUMN batch_id BIGINT REFERENCES batches (id);
CREATE INDEX instructions_approved ON instructions (fund, id) WHERE state = 'APPROVED';
CREATE INDEX instructions_by_batch ON instructions (batch_id) WHERE batch_id IS NOT NULL;
