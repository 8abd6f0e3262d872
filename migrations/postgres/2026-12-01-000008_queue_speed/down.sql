DROP TRIGGER rights_requests_words_erased ON rights_requests;
DROP FUNCTION request_words_erase();
DROP TABLE request_words;
DROP TABLE request_due_days;
