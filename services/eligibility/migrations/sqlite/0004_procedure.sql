-- The dibao procedure: staff and their tokens, quotas and poor villages, applications with every
-- step, and periodic reviews.
CREATE TABLE staff (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('TOWNSHIP', 'COUNTY')),
    township TEXT,
    token_nonce TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    CHECK ((role = 'TOWNSHIP') = (township IS NOT NULL))
);
CREATE TABLE township_quotas (
    township TEXT PRIMARY KEY,
    dibao_quota BIGINT NOT NULL CHECK (dibao_quota >= 0),
    updated_at TEXT NOT NULL
);
CREATE TABLE poor_villages (
    township TEXT NOT NULL,
    village TEXT NOT NULL,
    PRIMARY KEY (township, village)
);
CREATE TABLE applications (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    stage TEXT NOT NULL,
    findings TEXT,
    assessment TEXT,
    score BIGINT NOT NULL DEFAULT 0,
    vulnerable BIGINT NOT NULL DEFAULT 0,
    notice_until TEXT,
    enrolments TEXT,
    submitted_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- One open application per household.
CREATE UNIQUE INDEX applications_one_open ON applications (household_id) WHERE stage NOT IN ('APPROVED', 'REJECTED');
CREATE TABLE application_steps (
    id INTEGER PRIMARY KEY,
    application_id BIGINT NOT NULL REFERENCES applications (id),
    step TEXT NOT NULL,
    staff_id BIGINT NOT NULL REFERENCES staff (id),
    staff_name TEXT NOT NULL,
    role TEXT NOT NULL,
    at TEXT NOT NULL,
    note TEXT NOT NULL,
    stage_after TEXT NOT NULL
);
CREATE INDEX application_steps_by_application ON application_steps (application_id, id);
CREATE TABLE reviews (
    id INTEGER PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    reviewed_on TEXT NOT NULL,
    decision TEXT NOT NULL,
    from_category TEXT NOT NULL,
    to_category TEXT,
    effective_from TEXT NOT NULL,
    staff_id BIGINT NOT NULL REFERENCES staff (id),
    note TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX reviews_by_person ON reviews (person_id, reviewed_on);
