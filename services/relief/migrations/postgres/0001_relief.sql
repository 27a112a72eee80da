-- The relief service's tables (postgres; the other backend's file is the same schema).

-- The county's yearly relief budget and what grants have drawn on it. A grant draws by a
-- conditional update in its own transaction; the CHECK is the backstop: never overdrawn.
CREATE TABLE relief_budgets (
    year BIGINT PRIMARY KEY,
    budget_fen BIGINT NOT NULL CHECK (budget_fen >= 0),
    granted_fen BIGINT NOT NULL DEFAULT 0,
    set_at TEXT NOT NULL,
    set_by TEXT NOT NULL,
    CHECK (granted_fen <= budget_fen)
);

-- A case: a registered household (household_no) or a person not yet registered (sealed ID,
-- keyed by its blind index). household_key is what the yearly limits count by.
CREATE TABLE cases (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    household_no TEXT,
    household_key TEXT NOT NULL,
    person_name_enc BYTEA,
    person_name_masked TEXT NOT NULL,
    national_id_enc BYTEA,
    national_id_masked TEXT NOT NULL,
    township TEXT NOT NULL,
    facts TEXT NOT NULL,
    asked_fen BIGINT NOT NULL CHECK (asked_fen > 0),
    granted_fen BIGINT NOT NULL DEFAULT 0,
    grant_year BIGINT,
    account_enc BYTEA,
    occurred_on TEXT NOT NULL,
    paperwork_due TEXT,
    paperwork_done_on TEXT,
    paperwork_late BIGINT NOT NULL DEFAULT 0,
    rejected_reason TEXT,
    special_approval TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX cases_by_township ON cases (township, state);
CREATE INDEX cases_by_household ON cases (household_key, grant_year);
CREATE INDEX cases_due ON cases (paperwork_due) WHERE state = 'EMERGENCY_GRANTED';

CREATE TABLE case_documents (
    case_id BIGINT NOT NULL REFERENCES cases (id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL,
    PRIMARY KEY (case_id, sha256)
);

CREATE TABLE case_events (
    id BIGSERIAL PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    note TEXT NOT NULL
);
CREATE INDEX case_events_by_case ON case_events (case_id);

-- Each grant of a case (the emergency grant, the county's top-ups): one payment each.
CREATE TABLE grants (
    id BIGSERIAL PRIMARY KEY,
    case_id BIGINT NOT NULL REFERENCES cases (id),
    part BIGINT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    standard_fen BIGINT NOT NULL,
    year BIGINT NOT NULL,
    decided_on TEXT NOT NULL,
    decided_by TEXT NOT NULL,
    authority TEXT NOT NULL,
    emergency BIGINT NOT NULL,
    UNIQUE (case_id, part)
);

-- What a household has been granted in a year (cases granted, their sum): the yearly limits
-- are a conditional update of this row, so concurrent grants cannot pass them together.
CREATE TABLE household_years (
    household_key TEXT NOT NULL,
    year BIGINT NOT NULL,
    grants BIGINT NOT NULL,
    granted_fen BIGINT NOT NULL,
    PRIMARY KEY (household_key, year)
);

-- Grants on their way to the payment service, written in the grant's transaction (sealed: they
-- carry the account), delivered by the relay until acknowledged.
CREATE TABLE outbox_messages (
    id BIGSERIAL PRIMARY KEY,
    topic TEXT NOT NULL,
    message_key TEXT NOT NULL UNIQUE,
    payload BYTEA NOT NULL,
    created_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX outbox_messages_pending ON outbox_messages (id) WHERE delivered_at IS NULL;
