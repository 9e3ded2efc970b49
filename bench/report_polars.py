"""The fastest peer: ConnectorX pulls the raw rows (partitioned on id, in parallel) into
Polars, which counts them; then the same segmentation as the other scripts.
Usage: report_polars.py POSTGRES_URL LAST_DAY [PARTITIONS]"""
import sys
from datetime import date, timedelta

import connectorx as cx
import polars as pl

from segment_report import DAYS, first_day, report

url, last = sys.argv[1], date.fromisoformat(sys.argv[2])
parts = int(sys.argv[3]) if len(sys.argv) > 3 else 4
start, end = first_day(last), last + timedelta(days=1)
actions = cx.read_sql(
    url,
    "SELECT id, signer, type_id, to_char(block_time AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day "
    f"FROM actions WHERE block_time >= '{start}T00:00:00Z' AND block_time < '{end}T00:00:00Z'",
    return_type="polars",
    partition_on="id",
    partition_num=parts,
)
counts = actions.group_by(["day", "signer", "type_id"]).len()
rewards = cx.read_sql(
    url,
    "SELECT id, wallet, amount::text AS amount, "
    "to_char(claimed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day FROM rewards "
    f"WHERE currency = 'NCG' AND claimed_at >= '{last - timedelta(days=DAYS - 1)}T00:00:00Z' "
    f"AND claimed_at < '{end}T00:00:00Z'",
    return_type="polars",
    partition_on="id",
    partition_num=parts,
)
print(f"rows: {actions.height + rewards.height}", file=sys.stderr)
lines = report(counts.iter_rows(), rewards.select(["day", "wallet", "amount"]).iter_rows(), last)
print("\n".join(lines))
