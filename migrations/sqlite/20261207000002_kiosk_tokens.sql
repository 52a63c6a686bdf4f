-- Device (kiosk) tokens, for a wall PC that must come back by itself after a restart.
-- `kind` is 'user' (pasted by a person, kept for a browser tab) or 'kiosk' (kept by one device's
-- browser). A kiosk token is created unenrolled: its first secret only works once, before
-- `enrol_until`, to enrol a device, which then gets a new secret; the first one is dead.
ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'user';
ALTER TABLE tokens ADD COLUMN enrol_until TEXT;
