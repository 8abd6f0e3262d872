-- Rights requests. Personal data (names, e-mail, address, free text) are
-- erased after their retention; an anonymous record stays.
CREATE TABLE rights_requests (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    reference TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    is_open BOOLEAN NOT NULL,
    first_name TEXT,
    last_name TEXT,
    email TEXT,
    email_hash TEXT,
    postal_address TEXT,
    details TEXT,
    scope TEXT,
    grounds TEXT,
    search_text TEXT,
    received_at TIMESTAMP NOT NULL,
    due_at TIMESTAMP NOT NULL,
    paused_at TIMESTAMP,
    extended BOOLEAN NOT NULL DEFAULT FALSE,
    extension_reason TEXT,
    closed_at TIMESTAMP,
    outcome_reason TEXT,
    duplicate_of TEXT REFERENCES rights_requests (id),
    erased_at TIMESTAMP,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (tenant_id, reference)
);
-- The queue's default order: open first, most urgent first.
CREATE INDEX rights_requests_queue ON rights_requests (tenant_id, is_open DESC, due_at, id);
CREATE INDEX rights_requests_received ON rights_requests (tenant_id, received_at, id);
CREATE INDEX rights_requests_email ON rights_requests (tenant_id, email_hash, kind);

-- How many requests each tenant has, by status and kind, kept in step with
-- every change: the queue's totals without counting a million rows.
CREATE TABLE request_counts (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    status TEXT NOT NULL,
    kind TEXT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, status, kind)
);

-- Tracking links: each token is shown once (in a response or an e-mail)
-- and kept only as its SHA-256; a request may have several.
CREATE TABLE tracking_tokens (
    token_hash TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES rights_requests (id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX tracking_tokens_request ON tracking_tokens (request_id);

-- Identity documents, encrypted (AES-256-GCM, key id kept for rotation).
-- The content goes when the retention ends; the metadata stays.
CREATE TABLE request_documents (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES rights_requests (id) ON DELETE CASCADE,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    key_id TEXT NOT NULL,
    nonce BLOB NOT NULL,
    ciphertext BLOB,
    uploaded_at TIMESTAMP NOT NULL,
    purged_at TIMESTAMP
);
CREATE INDEX request_documents_request ON request_documents (request_id);

-- The timeline of a request: who, when, what, why.
CREATE TABLE request_events (
    id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL REFERENCES rights_requests (id) ON DELETE CASCADE,
    at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT,
    detail TEXT
);
CREATE INDEX request_events_request ON request_events (request_id, at);

-- Oppositions to prospection: a keyed hash of the address, nothing else,
-- used for nothing but checking the list.
CREATE TABLE suppression_list (
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    email_hash TEXT NOT NULL,
    request_id TEXT NOT NULL,
    added_at TIMESTAMP NOT NULL,
    PRIMARY KEY (tenant_id, email_hash)
);
