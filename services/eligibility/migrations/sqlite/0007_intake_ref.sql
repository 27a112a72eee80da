-- An application brought at the single window (the relief service's intake) names it: the link
-- both ways (the intake names the application).
ALTER TABLE applications ADD COLUMN intake_ref TEXT;
