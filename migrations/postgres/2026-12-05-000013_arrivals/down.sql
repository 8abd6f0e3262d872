DROP INDEX rights_requests_case;
ALTER TABLE rights_requests DROP COLUMN on_behalf_relation;
ALTER TABLE rights_requests DROP COLUMN on_behalf_last_name;
ALTER TABLE rights_requests DROP COLUMN on_behalf_first_name;
ALTER TABLE rights_requests DROP COLUMN case_id;
ALTER TABLE rights_requests DROP COLUMN channel;
