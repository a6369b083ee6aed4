"""The console's PostgreSQL engine for the test run, with a cheaper flush.

A transactional test (live server, real workers, races) ends with Django's
flush: one TRUNCATE of every table. TRUNCATE gives each of the ~150 tables and
their indexes new files, about 0.7 s on a slow machine, although a test leaves
rows in a handful of them. Here the flush finds the tables that hold rows and
deletes those, with foreign-key triggers off for the statement's transaction
(``session_replication_role``, which needs a superuser; without one it falls
back to Django's TRUNCATE). Only the flush differs from the console's engine.
"""

from django.db.backends.postgresql.operations import DatabaseOperations as PostgresOperations

from audit.backends.postgresql import base

FLUSH = """
DO $flush$
DECLARE
  everything text[] := ARRAY[TABLES];
  busy text[] := '{}';
  name text;
  held boolean;
BEGIN
  FOREACH name IN ARRAY everything LOOP
    EXECUTE format('SELECT EXISTS (SELECT FROM %I)', name) INTO held;
    IF held THEN busy := busy || name; END IF;
  END LOOP;
  IF cardinality(busy) = 0 THEN RETURN; END IF;
  BEGIN
    SET LOCAL session_replication_role = replica;
  EXCEPTION WHEN insufficient_privilege THEN
    EXECUTE 'TRUNCATE ' || (SELECT string_agg(format('%I', t), ', ') FROM unnest(everything) t);
    RETURN;
  END;
  FOREACH name IN ARRAY busy LOOP
    EXECUTE format('DELETE FROM %I', name);
  END LOOP;
  SET LOCAL session_replication_role = origin;
END
$flush$
"""


class DatabaseOperations(PostgresOperations):
    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        if not tables or reset_sequences or allow_cascade:
            return super().sql_flush(style, tables, reset_sequences=reset_sequences,
                                     allow_cascade=allow_cascade)
        names = ", ".join("'" + name.replace("'", "''") + "'" for name in tables)
        return [FLUSH.replace("TABLES", names)]  # Django's own table names, quoted


class DatabaseWrapper(base.DatabaseWrapper):
    ops_class = DatabaseOperations
