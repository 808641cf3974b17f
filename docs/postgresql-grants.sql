-- PostgreSQL roles for b12desk: the schema belongs to b12desk_owner, which only `b12desk db upgrade`
-- uses; the workstations sign in as b12desk_app, which may read and write the clinic's data but may not
-- change or remove audit events, nor switch off or drop the trigger that refuses it (only a table's owner
-- may). Run the first part as a superuser, `b12desk db upgrade` as b12desk_owner, then the second part as
-- b12desk_owner. Choose your own passwords (and keep them in ~/.pgpass, not on the command line).

-- 1. As a superuser, once.
CREATE ROLE b12desk_owner LOGIN PASSWORD 'change-me-owner';
CREATE ROLE b12desk_app LOGIN PASSWORD 'change-me-app';
CREATE DATABASE b12desk OWNER b12desk_owner;
REVOKE ALL ON DATABASE b12desk FROM PUBLIC;
GRANT CONNECT ON DATABASE b12desk TO b12desk_app;

-- 2. As b12desk_owner, connected to the b12desk database, after `b12desk db upgrade` (and again after
--    each upgrade that adds a table).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO b12desk_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO b12desk_app;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM b12desk_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO b12desk_app;
