"""The fastest peer: ConnectorX pulls the raw rows (partitioned on id, in parallel) from
PostgreSQL and MariaDB into Polars, which counts them; then the same segmentation as the other
scripts.
Usage: report_polars.py POSTGRES_URL MYSQL_URL LAST_DAY [PARTITIONS]"""
import sys
from datetime import date, timedelta

import connectorx as cx
import polars as pl

from segment_report import DAYS, first_day, report

pg_url, my_url, last = sys.argv[1], sys.argv[2], date.fromisoformat(sys.argv[3])
parts = int(sys.argv[4]) if len(sys.argv) > 4 else 4
start, end = first_day(last), last + timedelta(days=1)
actions = cx.read_sql(
    pg_url,
    "SELECT id, signer, type_id, to_char(block_time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day "
    f"FROM actions WHERE block_time >= '{start}T00:00:00Z' AND block_time < '{end}T00:00:00Z'",
    return_type="polars",
    partition_on="id",
    partition_num=parts,
)
counts = actions.group_by(["day", "signer", "type_id"]).len()
rewards = cx.read_sql(
    my_url,
    "SELECT id, wallet, CAST(amount AS CHAR) AS amount, DATE_FORMAT(claimed_at, '%Y-%m-%d') AS day "
    f"FROM rewards WHERE currency = 'NCG' AND claimed_at >= '{last - timedelta(days=DAYS - 1)} 00:00:00' "
    f"AND claimed_at < '{end} 00:00:00'",
    return_type="polars",
    partition_on="id",
    partition_num=parts,
)
print(f"rows: {actions.height + rewards.height}", file=sys.stderr)
lines = report(counts.iter_rows(), rewards.select(["day", "wallet", "amount"]).iter_rows(), last)
print("\n".join(lines))
