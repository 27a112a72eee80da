-- The registry: households, their members, and the periods in which a person holds a category.
-- National IDs, names and bank accounts are stored encrypted; `id_hash` is their keyed hash.
CREATE TABLE households (
    id INTEGER PRIMARY KEY,
    household_no TEXT NOT NULL UNIQUE,
    township TEXT NOT NULL,
    village TEXT NOT NULL,
    address TEXT NOT NULL DEFAULT '',
    bank_account_enc BLOB,
    monthly_income_fen BIGINT NOT NULL DEFAULT 0 CHECK (monthly_income_fen >= 0),
    savings_fen BIGINT NOT NULL DEFAULT 0 CHECK (savings_fen >= 0),
    motor_vehicles BIGINT NOT NULL DEFAULT 0 CHECK (motor_vehicles >= 0),
    vehicles_exempt BIGINT NOT NULL DEFAULT 0,
    commercial_properties BIGINT NOT NULL DEFAULT 0 CHECK (commercial_properties >= 0),
    registration_digest BLOB,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE persons (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    id_hash BLOB NOT NULL UNIQUE,
    national_id_enc BLOB NOT NULL,
    national_id_masked TEXT NOT NULL,
    name_enc BLOB NOT NULL,
    relation TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    disability_grade BIGINT NOT NULL DEFAULT 0 CHECK (disability_grade BETWEEN 0 AND 4),
    seriously_ill BIGINT NOT NULL DEFAULT 0,
    able_to_work BIGINT NOT NULL DEFAULT 1,
    publicly_funded BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX persons_by_household ON persons (household_id);

CREATE TABLE category_periods (
    id INTEGER PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    category TEXT NOT NULL,
    effective_from TEXT NOT NULL,
    effective_to TEXT CHECK (effective_to IS NULL OR effective_to >= effective_from),
    -- The day the recipient last counted as reviewed (for an import: the day it ran).
    reviewed_on TEXT NOT NULL,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (person_id, category, effective_from)
);

CREATE TABLE import_runs (
    id INTEGER PRIMARY KEY,
    ran_at TEXT NOT NULL,
    ran_on TEXT NOT NULL,
    actor TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    data_lines BIGINT NOT NULL,
    households_created BIGINT NOT NULL,
    persons_created BIGINT NOT NULL,
    periods_created BIGINT NOT NULL,
    changes BIGINT NOT NULL,
    unchanged BIGINT NOT NULL,
    skipped BIGINT NOT NULL
);
