DROP TRIGGER rights_requests_words_erased;
DROP TABLE request_words;
DROP TABLE request_due_days;
