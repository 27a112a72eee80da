-- Both backends: BIGINT is an integer on SQLite too, and a BYTEA column keeps blobs as they are
-- there.
CREATE TABLE accumulators (
    person_key BYTEA NOT NULL,
    year BIGINT NOT NULL,
    basic_inpatient_paid BIGINT NOT NULL DEFAULT 0,
    basic_outpatient_paid BIGINT NOT NULL DEFAULT 0,
    critical_base BIGINT NOT NULL DEFAULT 0,
    critical_paid BIGINT NOT NULL DEFAULT 0,
    assistance_base BIGINT NOT NULL DEFAULT 0,
    assistance_paid BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (person_key, year)
);
CREATE TABLE settlements (
    id TEXT PRIMARY KEY,
    hospital_code TEXT NOT NULL,
    bill_no TEXT NOT NULL,
    content_digest TEXT NOT NULL,
    person_key BYTEA NOT NULL,
    national_id_enc BYTEA NOT NULL,
    national_id_masked TEXT NOT NULL,
    year BIGINT NOT NULL,
    visit_type TEXT NOT NULL,
    hospital_level TEXT NOT NULL,
    admitted_on TEXT NOT NULL,
    discharged_on TEXT NOT NULL,
    total_fen BIGINT NOT NULL,
    in_policy_fen BIGINT NOT NULL,
    category TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    basic_fen BIGINT NOT NULL,
    critical_fen BIGINT NOT NULL,
    assistance_fen BIGINT NOT NULL,
    copay_fen BIGINT NOT NULL,
    added_critical_base BIGINT NOT NULL,
    added_assistance_base BIGINT NOT NULL,
    trace TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('SETTLED', 'REVERSED')),
    settled_at TEXT NOT NULL,
    settled_day TEXT NOT NULL,
    reversed_at TEXT,
    reversed_day TEXT,
    reverse_reason TEXT,
    UNIQUE (hospital_code, bill_no)
);
CREATE INDEX settlements_settled_day ON settlements (hospital_code, settled_day);
CREATE INDEX settlements_reversed_day ON settlements (hospital_code, reversed_day) WHERE reversed_day IS NOT NULL;
CREATE INDEX settlements_person_year ON settlements (person_key, year);
CREATE TABLE premium_subsidies (
    person_key BYTEA NOT NULL,
    year BIGINT NOT NULL,
    national_id_enc BYTEA NOT NULL,
    category TEXT NOT NULL,
    policy_version TEXT NOT NULL,
    premium_fen BIGINT NOT NULL,
    subsidy_bp BIGINT NOT NULL,
    subsidy_fen BIGINT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (person_key, year)
);
