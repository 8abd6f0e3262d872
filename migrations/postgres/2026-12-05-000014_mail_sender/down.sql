ALTER TABLE mail_outbox DROP COLUMN reply_to;
ALTER TABLE mail_outbox DROP COLUMN sender_name;
