DROP TABLE audit_events;
DROP TABLE staff_users;
