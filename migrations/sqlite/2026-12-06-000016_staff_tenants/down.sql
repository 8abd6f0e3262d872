DROP TABLE staff_tenants;
