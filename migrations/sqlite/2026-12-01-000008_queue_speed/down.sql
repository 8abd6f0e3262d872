DROP TABLE request_due_days;
