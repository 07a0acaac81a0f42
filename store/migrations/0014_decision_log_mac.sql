-- Portcullis schema, version 14: each record's MAC under a key derived from the log key, over
-- its canonical encoding and signature. The sequencer checks a record another replica signed
-- by its MAC (an HMAC) instead of its signature (an Ed25519 verification); a record without one
-- (committed before this version) is checked by its signature.
ALTER TABLE decisions ADD COLUMN log_mac {{BYTES}};
