#!/usr/bin/env bash
# Makes sure PostgreSQL and MariaDB answer on 127.0.0.1 for the tests: starts them when they are
# installed but stopped, and installs them from Debian's packages when missing (as root).
# Sourced by scripts/test.sh; safe to run again and again.
set -euo pipefail

log() { printf 'services: %s\n' "$*" >&2; }

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "$name did not become ready in 60 s"; return 1
}

apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "cannot install $* (not root, or no apt-get): install and start it, or set the TALLY_TEST_*_URL variables"
    return 1
  fi
  log "installing $* from Debian's packages"
  if [ -z "${TALLY_APT_UPDATED:-}" ]; then
    apt-get update -qq >&2
    TALLY_APT_UPDATED=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }

ensure_postgres() {
  if command -v pg_isready >/dev/null && pg_ready; then return 0; fi
  if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
    apt_install postgresql postgresql-client
  fi
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    # The tests connect as postgres over TCP without a password, as on the CI machines.
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  wait_for PostgreSQL pg_ready
}

my_ready() { mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root ping; }

ensure_mariadb() {
  if command -v mariadb-admin >/dev/null && my_ready >/dev/null 2>&1; then return 0; fi
  if [ ! -x /usr/sbin/mariadbd ]; then
    apt_install mariadb-server mariadb-client
  fi
  log "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  wait_for MariaDB mariadb-admin -u root ping
  # Debian's root logs in through the socket only; the tests log in over TCP without a password.
  mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); CREATE DATABASE IF NOT EXISTS test;" || true
  wait_for MariaDB my_ready
}

ensure_postgres
ensure_mariadb
