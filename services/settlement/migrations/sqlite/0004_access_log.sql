-- Every read of a person's data by a hospital (a quote, a settlement, the year's totals), with
-- what it asked and how it was answered (PIPL: who looked at this person, and when).
CREATE TABLE access_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    day TEXT NOT NULL,
    hospital_code TEXT NOT NULL,
    person_key BYTEA NOT NULL,
    national_id_masked TEXT NOT NULL,
    action TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reference TEXT NOT NULL
);
CREATE INDEX access_log_person ON access_log (person_key, day);
CREATE INDEX access_log_hospital ON access_log (hospital_code, day);
