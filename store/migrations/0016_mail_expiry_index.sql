-- Portcullis schema, version 16: a recipient's mail is found by its expiry.
--
-- Every look into a mailbox (a collection, when the next message is due, how many wait before a
-- post) wants the recipient's unexpired messages. Indexed by recipient and due time, it walked
-- every entry the recipient ever had since the table was last vacuumed: on PostgreSQL a
-- delivered message's entry stays in the index until a vacuum, and a busy Host receives
-- thousands a minute. Indexed by recipient and expiry, the walk starts at the first unexpired
-- message, so it passes only the entries of the messages delivered within their lifetime (a
-- connection request's is a few seconds).
CREATE INDEX mail_recipient_expiry ON mail (recipient, expires_at);
DROP INDEX mail_recipient;
