DROP INDEX IF EXISTS rights_requests_search;
DROP TABLE request_due_days;
