-- Auditors filter the decision log by host name (the name at decision time, which is what
-- they know and what outlives a host's re-enrolment), so that filter gets its index too.
CREATE INDEX decisions_host_name_time ON decisions (host_name, decided_at, id);
