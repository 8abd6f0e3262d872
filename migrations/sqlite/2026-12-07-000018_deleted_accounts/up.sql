-- A deleted staff account's journal entries stay: its id, wherever it was
-- the actor or the subject, is replaced by one pseudonym ("deleted-…"),
-- the same for all its entries and linked to nothing kept.
ALTER TABLE audit_events ADD COLUMN actor_pseudonym TEXT;
