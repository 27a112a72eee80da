-- A staff token's last valid day (China time). Tokens issued before this column existed have
-- none and stay valid until revoked: re-issue them (`doudi staff add`) to give them an expiry.
ALTER TABLE staff ADD COLUMN expires_on TEXT;
