DROP TABLE request_notes;
DROP TABLE request_assignments;
DELETE FROM staff_users WHERE role = 'referent';
ALTER TABLE staff_users DROP CONSTRAINT staff_users_role_check;
ALTER TABLE staff_users ADD CONSTRAINT staff_users_role_check CHECK (role IN ('dpo', 'admin'));
