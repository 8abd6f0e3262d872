DROP FUNCTION consent_lease_check(TEXT);
DROP FUNCTION consent_lease_take(TEXT, INTEGER);
DROP FUNCTION consent_lease_renew(TEXT, INTEGER);
DROP FUNCTION consent_lease_leave(TEXT);
DROP FUNCTION consent_lease_key();
DROP TABLE consent_lease;
