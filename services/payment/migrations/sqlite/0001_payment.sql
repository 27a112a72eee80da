-- The payment service's tables (SQLite; postgres/0001_payment.sql is the same schema).

-- The ledger: accounts whose balances are the sums of their transfers (kept with each transfer,
-- in its transaction, and re-derived by `doudi check`), and append-only transfers. A limited
-- account (a fund's available budget) never has more debits than credits: the conditional
-- update that posts to it says so, and the CHECK is the backstop.
CREATE TABLE ledger_accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    limited BIGINT NOT NULL,
    debits_fen BIGINT NOT NULL DEFAULT 0,
    credits_fen BIGINT NOT NULL DEFAULT 0,
    CHECK (limited = 0 OR credits_fen >= debits_fen)
);
CREATE TABLE ledger_transfers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    debit_account BIGINT NOT NULL REFERENCES ledger_accounts (id),
    credit_account BIGINT NOT NULL REFERENCES ledger_accounts (id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    kind TEXT NOT NULL,
    reference TEXT NOT NULL,
    at TEXT NOT NULL,
    CHECK (debit_account <> credit_account)
);

CREATE TABLE budgets (
    fund TEXT NOT NULL,
    year BIGINT NOT NULL,
    budget_fen BIGINT NOT NULL CHECK (budget_fen >= 0),
    set_at TEXT NOT NULL,
    set_by TEXT NOT NULL,
    PRIMARY KEY (fund, year)
);

-- Payment instructions, unique on the sender's key. Payroll instructions, and only they, carry
-- the household, kind, the month paid for and the run that made them (later than the month for
-- arrears): their queries filter on `month` or `run_month` alone, which keeps SQLite's planner
-- on the indexes below rather than on the sender key's.
CREATE TABLE instructions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    source_ref TEXT NOT NULL,
    content_digest TEXT NOT NULL,
    fund TEXT NOT NULL,
    budget_year BIGINT NOT NULL,
    payee_kind TEXT NOT NULL,
    payee_ref TEXT NOT NULL,
    payee_name TEXT NOT NULL,
    account_enc BLOB,
    account_masked TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    gross_fen BIGINT NOT NULL,
    withheld_fen BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    reference TEXT NOT NULL,
    state TEXT NOT NULL,
    held_reason TEXT,
    approval_required BIGINT NOT NULL,
    household_no TEXT,
    kind TEXT,
    month TEXT,
    run_month TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    UNIQUE (source, source_ref)
);
-- Few indexes: each is written for every instruction of a payroll. A payee's instructions by
-- month (a household's payee_ref is its number: the payroll's look-ups), a run's by state (its
-- approval), and the held queue (small: a partial index).
CREATE INDEX instructions_by_payee ON instructions (payee_ref, month);
CREATE INDEX instructions_by_run ON instructions (run_month, state);
CREATE INDEX instructions_held ON instructions (fund, budget_year, id) WHERE state = 'HELD';

-- Every change of an instruction's state after its creation: who, when, why.
CREATE TABLE instruction_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instruction_id BIGINT NOT NULL REFERENCES instructions (id),
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    reason TEXT NOT NULL
);
CREATE INDEX instruction_events_by_instruction ON instruction_events (instruction_id);

-- What a household was paid beyond what the roll says now, and the withholdings repaying it.
CREATE TABLE overpayments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    household_no TEXT NOT NULL,
    kind TEXT NOT NULL,
    month TEXT NOT NULL,
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    run_month TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX overpayments_by_household ON overpayments (household_no, kind, month);
CREATE TABLE withholdings (
    instruction_id BIGINT NOT NULL REFERENCES instructions (id),
    overpayment_id BIGINT NOT NULL REFERENCES overpayments (id),
    amount_fen BIGINT NOT NULL CHECK (amount_fen > 0),
    PRIMARY KEY (instruction_id, overpayment_id)
);
CREATE INDEX withholdings_by_overpayment ON withholdings (overpayment_id);

-- The months whose payroll ran here (the look-back revisits only these).
CREATE TABLE payroll_runs (
    month TEXT PRIMARY KEY,
    first_run_at TEXT NOT NULL,
    last_run_at TEXT NOT NULL,
    runs BIGINT NOT NULL
);

CREATE TABLE price_indexes (
    month TEXT PRIMARY KEY,
    cpi_bp BIGINT NOT NULL,
    food_bp BIGINT NOT NULL,
    recorded_at TEXT NOT NULL,
    recorded_by TEXT NOT NULL
);

-- Messages received from other services' outboxes, once per sender and key.
CREATE TABLE received_messages (
    sender TEXT NOT NULL,
    message_key TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (sender, message_key)
);

-- What each settlement and reversal moves, as the settlement service announced it.
CREATE TABLE hospital_payables (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    settlement_id TEXT NOT NULL,
    entry TEXT NOT NULL,
    hospital_code TEXT NOT NULL,
    bill_no TEXT NOT NULL,
    basic_insurance_fen BIGINT NOT NULL,
    critical_illness_fen BIGINT NOT NULL,
    medical_assistance_fen BIGINT NOT NULL,
    day TEXT NOT NULL,
    closed_period TEXT,
    UNIQUE (settlement_id, entry)
);
CREATE INDEX hospital_payables_open ON hospital_payables (closed_period, day);

CREATE TABLE premium_subsidies (
    year BIGINT NOT NULL,
    person_key BLOB NOT NULL,
    national_id_enc BLOB NOT NULL,
    national_id_masked TEXT NOT NULL,
    category TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    premium_fen BIGINT NOT NULL,
    subsidy_bp BIGINT NOT NULL,
    subsidy_fen BIGINT NOT NULL,
    closed BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (year, person_key)
);

-- Accounts of payees no roll carries (hospitals), sealed to their row.
CREATE TABLE payee_accounts (
    payee_kind TEXT NOT NULL,
    payee_ref TEXT NOT NULL,
    name TEXT NOT NULL,
    account_enc BLOB NOT NULL,
    set_at TEXT NOT NULL,
    PRIMARY KEY (payee_kind, payee_ref)
);

-- Periods closed (hospital payables by month, premium subsidies by year): once each.
CREATE TABLE period_closes (
    what TEXT NOT NULL,
    period TEXT NOT NULL,
    closed_at TEXT NOT NULL,
    closed_by TEXT NOT NULL,
    PRIMARY KEY (what, period)
);
