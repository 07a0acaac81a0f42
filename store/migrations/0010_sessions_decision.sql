-- Portcullis schema, version 10: sessions found by the decision that started them
-- (GET /v1/sessions?decision=…, portcullis logs trace).
CREATE INDEX sessions_decision ON sessions (decision_id);
