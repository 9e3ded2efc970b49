#!/usr/bin/env bash
# The floor: the report's aggregation as one server-side GROUP BY per database, written to files.
# Usage: floor.sh PG_URL OUT_DIR FIRST_ACTION_DAY FIRST_REWARD_DAY END_DAY
set -euo pipefail
pg_url=$1 out=$2 first=$3 rewards_first=$4 end=$5
psql "$pg_url" -q -c "\\copy (SELECT signer, type_id, date_trunc('day', block_time), count(*) FROM actions WHERE block_time >= '${first}T00:00Z' AND block_time < '${end}T00:00Z' GROUP BY 1, 2, 3) TO '$out/floor.rows'"
mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -u root -N -B tally_bench -e \
  "SELECT wallet, DATE(claimed_at), sum(amount) FROM rewards WHERE currency = 'NCG' AND claimed_at >= '$rewards_first' AND claimed_at < '$end' GROUP BY 1, 2" \
  > "$out/floor-rewards.rows"
