-- Appends one more day (2026-10-31) of actions, at the same density, for the warm run.
-- Usage: psql -v rows=10000000 -v days=30 -v users=20000 -f add_day_pg.sql
\set ON_ERROR_STOP on
SELECT setseed(0.7);
INSERT INTO actions
SELECT :rows + i,
       '0x' || lpad(to_hex(floor(power(random(), 3) * :users)::int), 8, '0'),
       (ARRAY['hack_and_slash22', 'hack_and_slash22', 'hack_and_slash22', 'hack_and_slash_sweep',
              'daily_reward7', 'combination_equipment', 'item_enhancement', 'rapid_combination',
              'buy', 'sell', 'transfer_asset', 'stake', 'claim_stake_reward', 'raid', 'grinding',
              'event_dungeon_battle', 'unlock_world'])[1 + floor(random() * 17)::int],
       timestamptz '2026-10-31 00:00Z' + (i::float8 / (:rows / :days)) * interval '1 day'
FROM generate_series(0, :rows / :days - 1) AS i;
VACUUM (ANALYZE) actions;
CHECKPOINT;
