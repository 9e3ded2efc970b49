#!/usr/bin/env bash
# The benchmark: tally against the floor (one server-side GROUP BY through psql), the story's
# pandas method and ConnectorX + Polars, on a generated PostgreSQL table.
# Usage: bench/run.sh [ROWS] [DAYS]        (default: 10000000 rows over 30 days)
# Needs PostgreSQL on 127.0.0.1 (BENCH_ADMIN_URL), python3 and /usr/bin/time; writes bench/work/.
set -euo pipefail
cd "$(dirname "$0")"
ROWS=${1:-10000000}
DAYS=${2:-30}
ADMIN=${BENCH_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
URL=${ADMIN%/*}/tally_bench
LAST=2026-10-30          # the report date of the cold run; the warm run adds 2026-10-31
VENV=${BENCH_VENV:-$HOME/.cache/tally-bench-venv}
WORK=work/$ROWS
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/tally-target}
TALLY=$CARGO_TARGET_DIR/release/tally

step() { printf '\n== %s\n' "$*" >&2; }

step "building tally (release)"
cargo build --release --quiet
if [ ! -x "$VENV/bin/python" ]; then
  step "creating the Python virtualenv $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q -r requirements.txt
fi

step "generating $ROWS actions over $DAYS days"
psql "$ADMIN" -q -c "DROP DATABASE IF EXISTS tally_bench" -c "CREATE DATABASE tally_bench"
/usr/bin/time -f "generated in %e s" psql "$URL" -q -v rows="$ROWS" -v days="$DAYS" -f generate_pg.sql
rm -rf "$WORK" && mkdir -p "$WORK/fresh"
sed "s|\${BENCH_URL}|$URL|" tally.toml > "$WORK/tally.toml"
# The same config without a lookback: a warm run that pulls the new day only.
sed 's|^lookback = .*|lookback = "0s"|' "$WORK/tally.toml" > "$WORK/fresh/tally.toml"

seq_scans() {
  psql "$URL" -Atc "SELECT coalesce(sum(seq_scan), 0) FROM pg_stat_user_tables WHERE relname IN ('actions', 'rewards')"
}

# measure NAME LABEL RUNS RESET -- COMMAND...: runs RESET, then COMMAND, RUNS times. Reports the
# median wall time, the highest peak RSS, the rows the server sent (in the last run) and the
# sequential scans counted over all runs.
RESULTS="$WORK/results.md"
printf '| method | runs | wall time (s, median) | peak RSS (MB) | rows sent by the server | seq scans |\n|---|---:|---:|---:|---:|---:|\n' > "$RESULTS"
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

measure floor "(c) floor: one GROUP BY through psql" 3 : -- psql "$URL" -q \
  -c "\\copy (SELECT signer, type_id, date_trunc('day', block_time), count(*) FROM actions WHERE block_time >= '${FIRST}T00:00Z' AND block_time < '${END}T00:00Z' GROUP BY 1, 2, 3) TO '$WORK/floor.rows'" \
  -c "\\copy (SELECT wallet, date_trunc('day', claimed_at), sum(amount) FROM rewards WHERE currency = 'NCG' AND claimed_at >= '${REWARDS_FIRST}T00:00Z' AND claimed_at < '${END}T00:00Z' GROUP BY 1, 2) TO '$WORK/floor-rewards.rows'"
measure cold "(a) tally cold (empty store)" 3 'rm -f "$WORK"/store.sqlite*' -- "$TALLY" -c "$WORK/tally.toml" -q run --date "$LAST"
"$TALLY" -c "$WORK/tally.toml" report rewards_by_segment --no-sync --date "$LAST" --format csv > "$WORK/tally.csv"
# The cold store, where each warm run starts (tally leaves no WAL file behind when it exits).
[ ! -e "$WORK/store.sqlite-wal" ] || { echo "the store still has a WAL file" >&2; exit 1; }
cp "$WORK/store.sqlite" "$WORK/cold.sqlite"
measure pandas "(d) pandas, raw rows (the story)" 1 : -- "$VENV/bin/python" report_pandas.py "$URL" "$LAST"
measure polars "(e) ConnectorX (4 partitions) + Polars" 1 : -- "$VENV/bin/python" report_polars.py "$URL" "$LAST" 4

step "adding one day for the warm run"
psql "$URL" -q -v rows="$ROWS" -v days="$DAYS" -f add_day_pg.sql
measure warm "(b) tally warm (one new day; lookback 1d pulls the day before again)" 3 \
  'cp "$WORK/cold.sqlite" "$WORK/store.sqlite"' -- "$TALLY" -c "$WORK/tally.toml" -q run --date 2026-10-31
measure fresh "(b') tally warm (one new day; lookback 0s)" 3 \
  'cp "$WORK/cold.sqlite" "$WORK/fresh/store.sqlite"' -- "$TALLY" -c "$WORK/fresh/tally.toml" -q run --date 2026-10-31

step "checking that every method printed the same report"
same=yes
for peer in pandas polars; do
  if ! diff -q "$WORK/tally.csv" "$WORK/$peer.out" > /dev/null; then
    same=no
    echo "MISMATCH: tally vs $peer (diff $WORK/tally.csv $WORK/$peer.out)" >&2
  fi
done
if ! diff -q "$WORK/reports/rewards_by_segment/2026-10-31.csv" "$WORK/fresh/reports/rewards_by_segment/2026-10-31.csv" > /dev/null; then
  same=no
  echo "MISMATCH: the two warm runs' reports differ" >&2
fi
{
  echo
  echo "$ROWS rows over $DAYS days; report date $LAST (8 days, 7-day window: 14 days of actions)."
  echo "Same report from tally, pandas and ConnectorX + Polars, and from both warm runs: $same."
} >> "$RESULTS"
cat "$RESULTS"
[ "$same" = yes ]
