ALTER TABLE rights_requests DROP COLUMN subject_ids;
