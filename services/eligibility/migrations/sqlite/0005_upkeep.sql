-- Registry upkeep: who joined or left which household when (nothing is overwritten: the events
-- stay, `persons.household_id` and `persons.left_on` are the current state), deaths, and the
-- history of household address and account corrections.
ALTER TABLE persons ADD COLUMN left_on TEXT;
ALTER TABLE persons ADD COLUMN died_on TEXT;
CREATE TABLE member_changes (
    id INTEGER PRIMARY KEY,
    person_id BIGINT NOT NULL REFERENCES persons (id),
    household_id BIGINT NOT NULL REFERENCES households (id),
    kind TEXT NOT NULL,
    effective_on TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX member_changes_by_person ON member_changes (person_id, effective_on);
CREATE TABLE household_details (
    id INTEGER PRIMARY KEY,
    household_id BIGINT NOT NULL REFERENCES households (id),
    address TEXT NOT NULL,
    bank_account_enc BLOB,
    effective_from TEXT NOT NULL,
    actor TEXT NOT NULL,
    note TEXT NOT NULL,
    recorded_at TEXT NOT NULL
);
CREATE INDEX household_details_by_household ON household_details (household_id, effective_from);
