-- Portcullis schema, version 13: each session's maximum duration, so that a listing can say
-- when the relay and the Host will cut it (its time left) without reading the decision record.
-- The value is the max_duration_seconds obligation of the decision that allowed the session:
-- 0 means none; -1 marks a session recorded before this version (unknown).
ALTER TABLE sessions ADD COLUMN max_duration_seconds BIGINT NOT NULL DEFAULT -1;
