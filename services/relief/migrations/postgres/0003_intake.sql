-- The single window: every request a person brings, and where it went (an eligibility
-- application, a relief case, or a referral to another department, tracked to its answer).
CREATE TABLE intakes (
    id BIGSERIAL PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    matter TEXT NOT NULL,
    household_no TEXT,
    person_enc BYTEA,
    person_name_masked TEXT NOT NULL,
    national_id_masked TEXT NOT NULL,
    township TEXT NOT NULL,
    summary TEXT NOT NULL,
    application_id BIGINT,
    case_id BIGINT REFERENCES cases (id),
    referral_id BIGINT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE referrals (
    id BIGSERIAL PRIMARY KEY,
    intake_id BIGINT NOT NULL REFERENCES intakes (id),
    department TEXT NOT NULL,
    township TEXT NOT NULL,
    summary TEXT NOT NULL,
    due_on TEXT NOT NULL,
    state TEXT NOT NULL,
    answer TEXT,
    answered_at TEXT,
    answered_by TEXT,
    closed_at TEXT,
    closed_by TEXT,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE INDEX referrals_by_department ON referrals (department, state, due_on);
ALTER TABLE cases ADD COLUMN intake_id BIGINT;
