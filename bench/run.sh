#!/usr/bin/env bash
# The benchmark: tally against the floor (one server-side GROUP BY per database), the story's
# pandas method and ConnectorX + Polars, on the story's setup: generated on-chain actions in
# PostgreSQL and reward claims in MariaDB.
# Usage: bench/run.sh [--rows N] [--days D] [--users U]   (defaults: 10000000 rows, 30 days,
#        20000 users; the old positional form `run.sh ROWS DAYS` works too)
# Needs PostgreSQL and MariaDB on 127.0.0.1 (BENCH_PG_ADMIN, BENCH_MY_ADMIN), python3 and
# /usr/bin/time; writes bench/work/.
set -euo pipefail
cd "$(dirname "$0")"
ROWS=10000000 DAYS=30 USERS=20000
while [ $# -gt 0 ]; do
  case $1 in
    --rows) ROWS=$2; shift 2 ;;
    --days) DAYS=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --*) echo "unknown option $1" >&2; exit 2 ;;
    *) if [ "$ROWS" = 10000000 ] && [ -z "${positional:-}" ]; then ROWS=$1; positional=1; else DAYS=$1; fi; shift ;;
  esac
done
PG_ADMIN=${BENCH_PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
PG_URL=${PG_ADMIN%/*}/tally_bench
MY_ADMIN=${BENCH_MY_ADMIN:-mysql://root@127.0.0.1:3306}
MY_URL=${MY_ADMIN%/}/tally_bench
MYSQL=(mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -u root)
LAST=2026-10-30          # the report date of the cold run; the warm run adds 2026-10-31
VENV=${BENCH_VENV:-$HOME/.cache/tally-bench-venv}
WORK=work/$ROWS-$USERS
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tally-target}
TALLY=$CARGO_TARGET_DIR/release/tally

step() { printf '\n== %s\n' "$*" >&2; }

step "building tally (release)"
cargo build --release --quiet
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import pymysql" 2>/dev/null; then
  step "creating the Python virtualenv $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r requirements.txt
fi

step "generating $ROWS actions (PostgreSQL) and $((ROWS / 100)) reward claims (MariaDB) over $DAYS days, $USERS users"
psql "$PG_ADMIN" -q -c "DROP DATABASE IF EXISTS tally_bench" -c "CREATE DATABASE tally_bench"
/usr/bin/time -f "actions generated in %e s" psql "$PG_URL" -q -v rows="$ROWS" -v days="$DAYS" -v users="$USERS" -f generate_pg.sql
"${MYSQL[@]}" -e "DROP DATABASE IF EXISTS tally_bench; CREATE DATABASE tally_bench"
(echo "SET @rows = $ROWS, @days = $DAYS, @users = $USERS;"; cat generate_mariadb.sql) \
  | /usr/bin/time -f "rewards generated in %e s" "${MYSQL[@]}" tally_bench
rm -rf "$WORK" && mkdir -p "$WORK/fresh"
sed "s|\${BENCH_PG_URL}|$PG_URL|; s|\${BENCH_MY_URL}|$MY_URL|" tally.toml > "$WORK/tally.toml"
# The same config without a lookback: a warm run that pulls the new day only.
sed 's|^keep = .*|&\nlookback = "0s"|' "$WORK/tally.toml" > "$WORK/fresh/tally.toml"

seq_scans() {
  psql "$PG_URL" -Atc "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables WHERE relname = 'actions'"
}

# measure NAME LABEL RUNS RESET -- COMMAND...: runs RESET, then COMMAND, RUNS times. Reports the
# median wall time, the highest peak RSS, the rows the servers sent (in the last run) and the
# sequential scans of `actions` counted over all runs.
RESULTS="$WORK/results.md"
printf '| method | runs | wall time (s, median) | peak RSS (MB) | rows sent by the servers | seq scans |\n|---|---:|---:|---:|---:|---:|\n' > "$RESULTS"
measure() {
  local name=$1 label=$2 runs=$3 reset=$4; shift 5
  local before after i secs kb peak=0 times=()
  sleep 1
  before=$(seq_scans)
  for ((i = 1; i <= runs; i++)); do
    eval "$reset"
    sleep 1
    /usr/bin/time -f "%e %M" -o "$WORK/$name.time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err"
    read -r secs kb < "$WORK/$name.time"
    times+=("$secs")
    if [ "$kb" -gt "$peak" ]; then peak=$kb; fi
  done
  sleep 1
  after=$(seq_scans)
  secs=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$(((runs + 1) / 2))p")
  echo "$name $secs $peak $((after - before)) runs: ${times[*]}" >> "$WORK/raw.txt"
  printf '| %s | %s | %s | %s | %s | %s |\n' "$label" "$runs" "$secs" "$((peak / 1024))" "$(rows_sent "$name")" "$((after - before))" >> "$RESULTS"
  step "$label: ${secs}s (runs: ${times[*]}), $((peak / 1024)) MB"
}
config() { if [ "$1" = fresh ]; then echo "$WORK/fresh/tally.toml"; else echo "$WORK/tally.toml"; fi; }
rows_sent() {
  case $1 in
    cold) "$TALLY" -c "$WORK/tally.toml" query --format csv "SELECT sum(rows) FROM _tally_slices" | tail -1 ;;
    warm|fresh) "$TALLY" -c "$(config "$1")" query --format csv \
            "SELECT sum(rows) FROM _tally_slices WHERE substr(pulled_at, 1, 19) >= substr((SELECT max(started_at) FROM _tally_runs), 1, 19)" | tail -1 ;;
    floor) cat "$WORK/floor.rows" "$WORK/floor-rewards.rows" | wc -l ;;
    *) sed -n 's/^rows: //p' "$WORK/$1.err" ;;
  esac
}

FIRST=$(date -d "$LAST - 13 days" +%F)
REWARDS_FIRST=$(date -d "$LAST - 7 days" +%F)
END=$(date -d "$LAST + 1 day" +%F)

measure floor "(c) floor: one GROUP BY per database (psql, mariadb)" 3 : -- ./floor.sh "$PG_URL" "$WORK" "$FIRST" "$REWARDS_FIRST" "$END"
measure cold "(a) tally cold (empty store)" 3 'rm -f "$WORK"/store.sqlite*' -- "$TALLY" -c "$WORK/tally.toml" -q run --date "$LAST"
"$TALLY" -c "$WORK/tally.toml" report rewards_by_segment --no-sync --date "$LAST" --format csv > "$WORK/tally.csv"
# The cold store, where each warm run starts (tally leaves no WAL file behind when it exits).
[ ! -e "$WORK/store.sqlite-wal" ] || { echo "the store still has a WAL file" >&2; exit 1; }
cp "$WORK/store.sqlite" "$WORK/cold.sqlite"
measure pandas "(d) pandas, raw rows (the story)" 1 : -- "$VENV/bin/python" report_pandas.py "$PG_URL" "$MY_URL" "$LAST"
measure polars "(e) ConnectorX (4 partitions) + Polars" 1 : -- "$VENV/bin/python" report_polars.py "$PG_URL" "$MY_URL" "$LAST" 4

step "adding one day for the warm run"
psql "$PG_URL" -q -v rows="$ROWS" -v days="$DAYS" -v users="$USERS" -f add_day_pg.sql
(echo "SET @rows = $ROWS, @days = $DAYS, @users = $USERS;"; cat add_day_mariadb.sql) | "${MYSQL[@]}" tally_bench
measure warm "(b) tally warm (one new day; the default 2-day lookback pulls the two days before again)" 3 \
  'cp "$WORK/cold.sqlite" "$WORK/store.sqlite"' -- "$TALLY" -c "$WORK/tally.toml" -q run --date 2026-10-31
measure fresh "(b') tally warm (one new day; lookback 0s)" 3 \
  'cp "$WORK/cold.sqlite" "$WORK/fresh/store.sqlite"' -- "$TALLY" -c "$WORK/fresh/tally.toml" -q run --date 2026-10-31

step "the built-in reports one by one, on a store synced for all of them"
mkdir -p "$WORK/kinds"
cat "$WORK/tally.toml" kinds.toml > "$WORK/kinds/tally.toml"
cp "$WORK/cold.sqlite" "$WORK/kinds/store.sqlite"
# Syncs what the reports need (lifecycle reads 28 days of history) and builds each once.
"$TALLY" -c "$WORK/kinds/tally.toml" -q report --date "$LAST" > /dev/null
cp "$WORK/kinds/store.sqlite" "$WORK/kinds/synced.sqlite"
# Each measured run starts from that store without the report's cached lines: it computes every
# day of the report (the day runs of partial scores and sums stay, as after a daily run).
forget() {
  cp "$WORK/kinds/synced.sqlite" "$WORK/kinds/store.sqlite"
  "$VENV/bin/python" -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"DELETE FROM _tally_report_days WHERE report LIKE ? || ':%'\", (sys.argv[2],)); c.commit()" \
    "$WORK/kinds/store.sqlite" "$1"
}
for kind in segment_rewards segment_flow policy_compare score_distribution lifecycle reward_efficiency; do
  name=k_$kind
  [ "$kind" = segment_rewards ] && name=rewards_by_segment
  measure "kind-$kind" "report $kind (8 days, from the synced store)" 3 "forget $kind" -- \
    "$TALLY" -c "$WORK/kinds/tally.toml" -q report "$name" --no-sync --date "$LAST" --format csv
done

step "checking that every method printed the same report"
same=yes
# tally's CSV ends with the `provisional` column, which the peers do not compute.
cut -d, -f1-8 "$WORK/tally.csv" > "$WORK/tally.8.csv"
for peer in pandas polars; do
  if ! diff -q "$WORK/tally.8.csv" "$WORK/$peer.out" > /dev/null; then
    same=no
    echo "MISMATCH: tally vs $peer (diff $WORK/tally.8.csv $WORK/$peer.out)" >&2
  fi
done
# With lookback 0s no day is provisional: compare the numbers.
if ! diff -q <(cut -d, -f1-8 "$WORK/reports/rewards_by_segment/2026-10-31.csv") \
  <(cut -d, -f1-8 "$WORK/fresh/reports/rewards_by_segment/2026-10-31.csv") > /dev/null; then
  same=no
  echo "MISMATCH: the two warm runs' reports differ" >&2
fi
{
  echo
  echo "$ROWS actions and $((ROWS / 100)) reward claims over $DAYS days, $USERS users; report date $LAST (8 days, 7-day window: 14 days of actions, 8 of rewards)."
  echo "Same report from tally, pandas and ConnectorX + Polars, and from both warm runs: $same."
} >> "$RESULTS"
cat "$RESULTS"
[ "$same" = yes ]
