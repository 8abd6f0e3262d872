-- Who a letter comes from, in the tenant's name: the display name of its
-- From (the address stays `mail.from`) and its Reply-To. Null for the
-- platform's own letters (staff sign-in, tests).
ALTER TABLE mail_outbox ADD COLUMN sender_name TEXT;
ALTER TABLE mail_outbox ADD COLUMN reply_to TEXT;
