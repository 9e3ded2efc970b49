-- Fills a MariaDB or MySQL database with the story's reward claims: @rows / 100 claims over
-- @days days ending 2026-10-31 (UTC, in a DATETIME), wallets of @users * 1.1 users (some rewarded
-- users never play), NCG and CRYSTAL, amounts with 8 decimals, an index on time.
-- Usage: (echo "SET @rows = 10000000, @days = 30, @users = 20000;"; cat generate_mariadb.sql) | mariadb tally_bench
DROP TABLE IF EXISTS rewards, digits;
CREATE TABLE digits (d INT PRIMARY KEY);
INSERT INTO digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
CREATE TABLE rewards (
    id BIGINT PRIMARY KEY,
    wallet VARCHAR(16) NOT NULL,
    currency VARCHAR(8) NOT NULL,
    amount DECIMAL(20, 8) NOT NULL,
    claimed_at DATETIME(6) NOT NULL
);
-- Seven digit tables make 10^7 numbers.
INSERT INTO rewards
SELECT n,
       CONCAT('0x', LPAD(HEX(FLOOR(POW(RAND(n + 7), 2) * @users * 1.1)), 8, '0')),
       IF(RAND(n + 3) < 0.9, 'NCG', 'CRYSTAL'),
       ROUND(RAND(n + 5) * 500, 8),
       TIMESTAMPADD(MICROSECOND, FLOOR(n / (@rows / 100) * @days * 86400000000),
                    TIMESTAMPADD(DAY, -@days, '2026-10-31 00:00:00'))
FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d + 1000000 * h.d AS n
      FROM digits a, digits b, digits c, digits e, digits f, digits g, digits h) AS t
WHERE n < @rows / 100;
CREATE INDEX rewards_claimed_at_idx ON rewards (claimed_at);
ANALYZE TABLE rewards;
