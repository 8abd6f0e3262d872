-- How a request arrived: `web` (the public form or the API), or entered by
-- staff from a letter, the counter, a telephone call, an e-mail or another
-- way (`post`, `counter`, `phone`, `email`, `other`).
ALTER TABLE rights_requests ADD COLUMN channel TEXT NOT NULL DEFAULT 'web';
-- The requests of one submission (one per right asked for) share it; a
-- request made alone has its own.
ALTER TABLE rights_requests ADD COLUMN case_id TEXT;
UPDATE rights_requests SET case_id = id;
CREATE INDEX rights_requests_case ON rights_requests (case_id);
-- Who the requester acts for (a mandate, a parent, a guardian): personal
-- data, erased with the requester's by the retention of `requester_data`.
ALTER TABLE rights_requests ADD COLUMN on_behalf_first_name TEXT;
ALTER TABLE rights_requests ADD COLUMN on_behalf_last_name TEXT;
ALTER TABLE rights_requests ADD COLUMN on_behalf_relation TEXT;
