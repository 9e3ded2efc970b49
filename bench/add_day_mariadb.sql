-- Appends one more day (2026-10-31) of reward claims, at the same density, for the warm run.
-- Usage: (echo "SET @rows = 10000000, @days = 30, @users = 20000;"; cat add_day_mariadb.sql) | mariadb tally_bench
INSERT INTO rewards
SELECT @rows / 100 + n,
       CONCAT('0x', LPAD(HEX(FLOOR(POW(RAND(n + 11), 2) * @users * 1.1)), 8, '0')),
       IF(RAND(n + 13) < 0.9, 'NCG', 'CRYSTAL'),
       ROUND(RAND(n + 17) * 500, 8),
       TIMESTAMPADD(MICROSECOND, FLOOR(n / (@rows / 100 / @days) * 86400000000), '2026-10-31 00:00:00')
FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d + 10000 * f.d + 100000 * g.d AS n
      FROM digits a, digits b, digits c, digits e, digits f, digits g) AS t
WHERE n < @rows / 100 / @days;
ANALYZE TABLE rewards;
