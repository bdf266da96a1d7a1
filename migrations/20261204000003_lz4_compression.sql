-- A submission's event and a case's view are JSON documents of about 2 kB, past the size
-- at which PostgreSQL compresses a value. lz4 compresses and decompresses them several
-- times faster than the default pglz at a similar ratio, which shows in every command,
-- every projector batch and every rebuild. Values stored before this keep pglz and stay
-- readable. A server built without lz4 keeps pglz.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_settings
               WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
        ALTER TABLE events ALTER COLUMN payload SET COMPRESSION lz4;
        ALTER TABLE my_submissions ALTER COLUMN view SET COMPRESSION lz4;
        ALTER TABLE queue_items ALTER COLUMN item SET COMPRESSION lz4;
    END IF;
END
$$;
