-- The ordered feed reads one aggregate type from a position in (transaction_id,
-- global_position) order. With the type leading this index, one range scan in that order
-- answers every feed query, whatever the planner's row estimates. Without it, statistics
-- left stale by a bulk load (a million events generated in minutes) led PostgreSQL to
-- read and sort the whole table for every batch.
CREATE INDEX events_feed ON events (aggregate_type, transaction_id, global_position);
DROP INDEX events_feed_order;
