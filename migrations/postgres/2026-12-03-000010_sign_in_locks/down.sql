ALTER TABLE staff_users ADD COLUMN failed_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE staff_users DROP COLUMN token_generation;
DROP TABLE staff_revoked_tokens;
DROP TABLE login_locks;
