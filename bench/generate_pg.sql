-- Fills a PostgreSQL database with the story's on-chain actions: :rows rows over :days days
-- ending 2026-10-31 (UTC), :users users with skewed activity, 17 action types, an index on time.
-- Usage: psql -v rows=10000000 -v days=30 -v users=20000 -f generate_pg.sql
\set ON_ERROR_STOP on
DROP TABLE IF EXISTS actions;
SELECT setseed(0.42);
CREATE TABLE actions (
    id bigint PRIMARY KEY,
    signer text NOT NULL,
    type_id text NOT NULL,
    block_time timestamptz NOT NULL
);
-- power(random(), 3) puts most actions on few users: a long tail of light players.
INSERT INTO actions
SELECT i,
       '0x' || lpad(to_hex(floor(power(random(), 3) * :users)::int), 8, '0'),
       (ARRAY['hack_and_slash22', 'hack_and_slash22', 'hack_and_slash22', 'hack_and_slash_sweep',
              'daily_reward7', 'combination_equipment', 'item_enhancement', 'rapid_combination',
              'buy', 'sell', 'transfer_asset', 'stake', 'claim_stake_reward', 'raid', 'grinding',
              'event_dungeon_battle', 'unlock_world'])[1 + floor(random() * 17)::int],
       timestamptz '2026-10-31 00:00Z' - (:days || ' days')::interval
         + (i::float8 / :rows) * (:days || ' days')::interval
FROM generate_series(0, :rows - 1) AS i;
CREATE INDEX actions_block_time_idx ON actions (block_time);
VACUUM (ANALYZE) actions;
-- Flush the dirty pages now, so that no checkpoint writes during the measurements.
CHECKPOINT;
