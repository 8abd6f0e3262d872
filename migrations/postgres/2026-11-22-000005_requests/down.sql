DROP TABLE suppression_list;
DROP TABLE request_events;
DROP TABLE request_documents;
DROP TABLE tracking_tokens;
DROP TABLE request_counts;
DROP TABLE rights_requests;
