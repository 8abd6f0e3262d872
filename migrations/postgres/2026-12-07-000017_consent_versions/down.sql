DROP TABLE consent_idempotency;
DROP TABLE consent_policy_versions;
