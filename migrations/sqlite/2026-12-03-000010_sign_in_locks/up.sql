-- Sign-in locks, one row per typed e-mail address (a keyed pseudonym of it,
-- lower-cased), whether or not an account has it: real and unknown
-- addresses take the same path. An attempt takes a slot before its password
-- is checked (in_flight); a wrong password turns the slot into a failure;
-- once `auth.lockout_threshold` failures are counted in the window, the key
-- is locked. A generation tells an attempt that its window ended while it
-- ran. The unlock link sent to a locked account's owner is kept hashed.
CREATE TABLE login_locks (
    lock_key TEXT PRIMARY KEY,
    account_id TEXT,
    generation BIGINT NOT NULL,
    window_until TIMESTAMP NOT NULL,
    failures INTEGER NOT NULL,
    in_flight INTEGER NOT NULL,
    locked_until TIMESTAMP,
    unlock_hash TEXT,
    unlock_until TIMESTAMP,
    unlock_attempts INTEGER NOT NULL,
    forget_at TIMESTAMP NOT NULL
);
CREATE INDEX login_locks_forget_at ON login_locks (forget_at);
CREATE INDEX login_locks_account ON login_locks (account_id);

-- Tokens signed out before they expire: refused until then.
CREATE TABLE staff_revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX staff_revoked_tokens_expires_at ON staff_revoked_tokens (expires_at);

-- Tokens carry the account's generation: a new password or a disabled
-- account bumps it, and older tokens are refused. The count of failures
-- moved to login_locks.
ALTER TABLE staff_users ADD COLUMN token_generation BIGINT NOT NULL DEFAULT 0;
ALTER TABLE staff_users DROP COLUMN failed_attempts;
