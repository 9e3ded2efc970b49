#!/usr/bin/env bash
# Runs every test of tally against real PostgreSQL, MariaDB, ClickHouse, pgbouncer and SQLite.
# Starts (or installs) the database servers first; extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${TALLY_TEST_POSTGRES_URL:-}" ] || [ -z "${TALLY_TEST_MYSQL_URL:-}" ] \
  || [ -z "${TALLY_TEST_CLICKHOUSE_URL:-}" ] || [ -z "${TALLY_TEST_PGBOUNCER_URL:-}" ]; then
  bash scripts/services.sh
fi
cargo test --all-targets "$@"
