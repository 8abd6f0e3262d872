ALTER TABLE rights_requests DROP COLUMN new_document_at;
ALTER TABLE rights_requests DROP COLUMN identity_note;
ALTER TABLE rights_requests DROP COLUMN identity_by;
ALTER TABLE rights_requests DROP COLUMN identity_at;
ALTER TABLE rights_requests DROP COLUMN identity_method;
ALTER TABLE rights_requests DROP COLUMN identity_outcome;
