"""The story's method: pull the raw rows into pandas (actions from PostgreSQL, rewards from
MariaDB), count them, then segment.
Usage: report_pandas.py POSTGRES_URL MYSQL_URL LAST_DAY  (prints the report CSV; raw row count
on stderr)"""
import sys
from datetime import date, timedelta
from urllib.parse import urlparse

import pandas as pd
import psycopg2
import pymysql

from segment_report import DAYS, first_day, report

pg_url, my_url, last = sys.argv[1], sys.argv[2], date.fromisoformat(sys.argv[3])
start, end = first_day(last), last + timedelta(days=1)
conn = psycopg2.connect(pg_url, options="-c TimeZone=UTC")
actions = pd.read_sql(
    "SELECT signer, type_id, block_time FROM actions WHERE block_time >= %s AND block_time < %s",
    conn,
    params=(start, end),
)
actions["day"] = actions["block_time"].dt.strftime("%Y-%m-%d")
counts = actions.groupby(["day", "signer", "type_id"]).size()
my = urlparse(my_url)
portal = pymysql.connect(
    host=my.hostname, port=my.port or 3306, user=my.username, password=my.password or "",
    database=my.path.lstrip("/"),
)
rewards = pd.read_sql(
    "SELECT wallet, CAST(amount AS CHAR) AS amount, claimed_at FROM rewards "
    "WHERE currency = 'NCG' AND claimed_at >= %s AND claimed_at < %s",
    portal,
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
