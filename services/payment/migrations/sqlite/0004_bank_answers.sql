-- What banks answer: each imported file once (by digest) with its lines, each line naming the
-- instruction it is about and the change of state it made (none for an acknowledgement or a
-- repeat). Refused files are recorded with the reason; they changed nothing else.
CREATE TABLE bank_files (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_sha256 TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    message_id TEXT NOT NULL,
    batch_id BIGINT REFERENCES batches (id),
    lines BIGINT NOT NULL,
    changed BIGINT NOT NULL,
    imported_at TEXT NOT NULL,
    imported_by TEXT NOT NULL
);
CREATE TABLE bank_answer_lines (
    file_id BIGINT NOT NULL REFERENCES bank_files (id),
    line_no BIGINT NOT NULL,
    instruction_id BIGINT NOT NULL REFERENCES instructions (id),
    batch_id BIGINT NOT NULL REFERENCES batches (id),
    answer TEXT NOT NULL,
    reason_code TEXT NOT NULL,
    reason_text TEXT NOT NULL,
    amount_fen BIGINT,
    from_state TEXT,
    to_state TEXT,
    last_change BIGINT NOT NULL,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX bank_answer_lines_by_batch ON bank_answer_lines (batch_id, instruction_id);
CREATE TABLE bank_refusals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_sha256 TEXT NOT NULL,
    kind TEXT NOT NULL,
    batch_id BIGINT REFERENCES batches (id),
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    actor TEXT NOT NULL
);
CREATE INDEX bank_refusals_by_batch ON bank_refusals (batch_id) WHERE batch_id IS NOT NULL;

-- The bank's last word on a failed or returned instruction, and the re-issue chain: a failed or
-- returned household payment is paid again by a new instruction once the account is corrected.
ALTER TABLE instructions ADD COLUMN bank_reason_code TEXT;
ALTER TABLE instructions ADD COLUMN bank_reason TEXT;
ALTER TABLE instructions ADD COLUMN reissue_of BIGINT REFERENCES instructions (id);
ALTER TABLE instructions ADD COLUMN reissued_as BIGINT REFERENCES instructions (id);
CREATE UNIQUE INDEX instructions_reissue_of ON instructions (reissue_of) WHERE reissue_of IS NOT NULL;
CREATE INDEX instructions_to_reissue ON instructions (id)
    WHERE state IN ('FAILED', 'RETURNED') AND reissued_as IS NULL;
