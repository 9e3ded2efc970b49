-- The same data for MariaDB or MySQL: an actions table of @rows rows over @days days ending
-- 2026-10-31 (UTC), skewed users, 15 action types, an index on time; rewards at 1% of that.
-- Usage: (echo "SET @rows = 10000000, @days = 30;"; cat generate_mariadb.sql) | mariadb tally_bench
DROP TABLE IF EXISTS actions, rewards, digits;
CREATE TABLE digits (d INT PRIMARY KEY);
INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
CREATE TABLE actions (
    id BIGINT PRIMARY KEY,
    signer VARCHAR(16) NOT NULL,
    type_id VARCHAR(32) NOT NULL,
    block_time DATETIME(6) NOT NULL
);
-- Seven digit tables make 10^7 numbers; more rows repeat the pattern with an offset.
INSERT INTO actions
SELECT n,
       CONCAT('0x', LPAD(HEX(FLOOR(POW(RAND(n), 3) * 20000)), 8, '0')),
       ELT(1 + FLOOR(RAND(n + 1) * 17), 'hack_and_slash22', 'hack_and_slash22', 'hack_and_slash22',
           'hack_and_slash_sweep', 'daily_reward7', 'combination_equipment', 'item_enhancement',
           'rapid_combination', 'buy', 'sell', 'transfer_asset', 'stake', 'claim_stake_reward',
           'raid', 'grinding', 'event_dungeon_battle', 'unlock_world'),
       TIMESTAMPADD(MICROSECOND, FLOOR(n / @rows * @days * 86400000000),
                    TIMESTAMPADD(DAY, -@days, '2026-10-31 00:00:00'))
FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d + 1000000 * h.d AS n
      FROM digits a, digits b, digits c, digits e, digits f, digits g, digits h) AS t
WHERE n < @rows;
CREATE INDEX actions_block_time_idx ON actions (block_time);
CREATE TABLE rewards (
    id BIGINT PRIMARY KEY,
    wallet VARCHAR(16) NOT NULL,
    currency VARCHAR(8) NOT NULL,
    amount DECIMAL(20, 8) NOT NULL,
    claimed_at DATETIME(6) NOT NULL
);
INSERT INTO rewards
SELECT n,
       CONCAT('0x', LPAD(HEX(FLOOR(POW(RAND(n + 7), 2) * 22000)), 8, '0')),
       IF(RAND(n + 3) < 0.9, 'NCG', 'CRYSTAL'),
       ROUND(RAND(n + 5) * 500, 8),
       TIMESTAMPADD(MICROSECOND, FLOOR(n / (@rows / 100) * @days * 86400000000),
                    TIMESTAMPADD(DAY, -@days, '2026-10-31 00:00:00'))
FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d AS n
      FROM digits a, digits b, digits c, digits e, digits f, digits g) AS t
WHERE n < @rows / 100;
CREATE INDEX rewards_claimed_at_idx ON rewards (claimed_at);
ANALYZE TABLE actions, rewards;
