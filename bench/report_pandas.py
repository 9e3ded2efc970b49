"""The story's method: pull the raw rows into pandas, count them, then segment.
Usage: report_pandas.py POSTGRES_URL LAST_DAY  (prints the report CSV; raw row count on stderr)"""
import sys
from datetime import date, timedelta

import pandas as pd
import psycopg2

from segment_report import DAYS, first_day, report

url, last = sys.argv[1], date.fromisoformat(sys.argv[2])
start, end = first_day(last), last + timedelta(days=1)
conn = psycopg2.connect(url, options="-c TimeZone=UTC")
actions = pd.read_sql(
    "SELECT signer, type_id, block_time FROM actions WHERE block_time >= %s AND block_time < %s",
    conn,
    params=(start, end),
)
actions["day"] = actions["block_time"].dt.strftime("%Y-%m-%d")
counts = actions.groupby(["day", "signer", "type_id"]).size()
rewards = pd.read_sql(
    "SELECT wallet, amount::text AS amount, claimed_at FROM rewards "
    "WHERE currency = 'NCG' AND claimed_at >= %s AND claimed_at < %s",
    conn,
    params=(last - timedelta(days=DAYS - 1), end),
)
rewards["day"] = rewards["claimed_at"].dt.strftime("%Y-%m-%d")
print(f"rows: {len(actions) + len(rewards)}", file=sys.stderr)
lines = report(
    ((d, u, k, n) for (d, u, k), n in counts.items()),
    zip(rewards["day"], rewards["wallet"], rewards["amount"]),
    last,
)
print("\n".join(lines))
