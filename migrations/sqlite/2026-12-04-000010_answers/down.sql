DELETE FROM request_documents WHERE role <> 'id_document';
ALTER TABLE request_documents DROP COLUMN message_id;
ALTER TABLE request_documents DROP COLUMN role;
DROP TABLE request_messages;
