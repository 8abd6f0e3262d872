-- The banner identifiers (consent subject ids) a requester asks about: a
-- JSON array of lower-case hyphenated UUIDs, at most
-- `requests.max_subject_ids`; null when none were given. Personal data of
-- the requester: erased with the names and the e-mail address by the
-- retention of `requester_data`.
ALTER TABLE rights_requests ADD COLUMN subject_ids TEXT;
