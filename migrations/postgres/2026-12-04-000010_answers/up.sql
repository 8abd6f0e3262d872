-- What the DPO wrote to the requester (messages, a completed request's
-- closing note, a rejection's reason), kept as proof of what was answered
-- until the request's requester_data retention ends; then the text is
-- erased (body null, erased_at set) and the row stays.
CREATE TABLE request_messages (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES rights_requests (id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    -- The staff member's e-mail, as the timeline's actors are.
    author TEXT NOT NULL,
    -- message | closing_note | rejection_reason
    kind TEXT NOT NULL,
    body TEXT,
    erased_at TIMESTAMP
);
CREATE INDEX request_messages_request ON request_messages (request_id, at);

-- A request's files have a role: the requester's identity documents, or
-- the attachments of the DPO's messages (which follow the requester_data
-- retention, not the identity documents' one). An attachment names its
-- message.
ALTER TABLE request_documents ADD COLUMN role TEXT NOT NULL DEFAULT 'id_document';
ALTER TABLE request_documents ADD COLUMN message_id TEXT;
