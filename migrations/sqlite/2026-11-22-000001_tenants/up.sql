-- Tenants are declared in configuration and synchronised here at start.
-- A tenant removed from configuration is kept, inactive, with its data.
CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    dpo_email TEXT NOT NULL,
    postal_address TEXT NOT NULL,
    locale TEXT NOT NULL,
    require_id_document BOOLEAN NOT NULL,
    allowed_origins TEXT NOT NULL,
    consent_policy TEXT NOT NULL,
    active BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
