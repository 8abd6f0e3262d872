DROP INDEX mail_outbox_tenant_sent;
DROP INDEX suppression_list_added;
DROP INDEX rights_requests_closed;
DROP TABLE retention_runs;
