-- The tenants a staff account serves: a shared DPO (a centre de gestion,
-- a syndicat informatique) serves several communes. `staff_users.tenant_id`
-- stays the account's first (primary) tenant, the one its tokens name;
-- this table lists every one, the primary included, in the order given.
CREATE TABLE staff_tenants (
    staff_id TEXT NOT NULL REFERENCES staff_users (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    position INTEGER NOT NULL,
    PRIMARY KEY (staff_id, tenant_id)
);
CREATE INDEX staff_tenants_tenant ON staff_tenants (tenant_id);
INSERT INTO staff_tenants (staff_id, tenant_id, position)
    SELECT id, tenant_id, 0 FROM staff_users WHERE tenant_id IS NOT NULL;
