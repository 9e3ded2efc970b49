#!/usr/bin/env bash
# Makes sure PostgreSQL, MariaDB, ClickHouse and pgbouncer (in front of PostgreSQL, transaction
# pooling, a pool of one connection) answer on 127.0.0.1 for the tests: starts them
# when they are installed but stopped, installs them from Debian's packages when missing (as
# root), and turns TLS on with a test CA made here (TALLY_TEST_TLS_DIR, default
# /var/lib/tally-test-tls).
# Run by scripts/test.sh; safe to run again and again.
set -euo pipefail

TLS_DIR=${TALLY_TEST_TLS_DIR:-/var/lib/tally-test-tls}

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

# A CA and a server certificate for localhost and 127.0.0.1, made once; each server gets its own
# copy of the key, owned by its user (both servers refuse a key that others can read).
ensure_certificates() {
  if [ -s "$TLS_DIR/server.pem" ] && openssl x509 -checkend 2592000 -noout -in "$TLS_DIR/server.pem" >/dev/null; then
    return 0
  fi
  command -v openssl >/dev/null || apt_install openssl
  log "making a test CA and a server certificate in $TLS_DIR"
  mkdir -p "$TLS_DIR"
  chmod 755 "$TLS_DIR"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tally test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" 2>/dev/null
  printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" > "$TLS_DIR/server.ext"
  openssl x509 -req -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
    -CAcreateserial -days 3650 -extfile "$TLS_DIR/server.ext" -out "$TLS_DIR/server.pem" 2>/dev/null
  chmod 644 "$TLS_DIR"/*.pem
  chmod 600 "$TLS_DIR"/*.key
  rm -rf "$TLS_DIR/pg" "$TLS_DIR/mysql"
}

server_key() { # user: a copy of the server key that only this user can read
  local user=$1
  mkdir -p "$TLS_DIR/$user"
  cp "$TLS_DIR/server.key" "$TLS_DIR/$user/server.key"
  chown -R "$user:" "$TLS_DIR/$user"
  chmod 700 "$TLS_DIR/$user"
  chmod 600 "$TLS_DIR/$user/server.key"
}

pg_sql() { psql -h 127.0.0.1 -U postgres -d postgres -Atqc "$1"; }

# TLS on, with the test certificate, and a role `tally_tls` that may connect over TLS only.
postgres_tls() {
  local hba
  hba=$(pg_sql "SHOW hba_file")
  if ! grep -q '^hostssl all tally_tls' "$hba"; then
    sed -i '1i hostnossl all tally_tls 127.0.0.1/32 reject' "$hba"
    sed -i '1i hostssl all tally_tls 127.0.0.1/32 trust' "$hba"
  fi
  if [ "$(pg_sql "SHOW ssl_cert_file")" != "$TLS_DIR/server.pem" ] || [ ! -f "$TLS_DIR/postgres/server.key" ]; then
    server_key postgres
    log "turning on TLS in PostgreSQL"
    pg_sql "ALTER SYSTEM SET ssl = on" >/dev/null
    pg_sql "ALTER SYSTEM SET ssl_cert_file = '$TLS_DIR/server.pem'" >/dev/null
    pg_sql "ALTER SYSTEM SET ssl_key_file = '$TLS_DIR/postgres/server.key'" >/dev/null
    pg_sql "ALTER SYSTEM SET ssl_ca_file = '$TLS_DIR/ca.pem'" >/dev/null
  fi
  pg_sql "SELECT pg_reload_conf()" >/dev/null
  pg_sql "DO \$\$ BEGIN CREATE ROLE tally_tls LOGIN SUPERUSER; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$" >/dev/null
  wait_for "PostgreSQL with TLS" bash -c "[ \"\$(psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'SHOW ssl_cert_file')\" = '$TLS_DIR/server.pem' ]"
}

my_sql() { mariadb --protocol=tcp -h 127.0.0.1 -P 3306 -u root -N -B -e "$1"; }

# TLS on (a config file included from my.cnf, then a restart), and a user `tally_tls` created
# with REQUIRE SSL.
mariadb_tls() {
  local cnf=/etc/mysql/tally-tests.cnf
  if [ ! -f "$cnf" ] || [ ! -f "$TLS_DIR/mysql/server.key" ]; then
    server_key mysql
    printf '%s\n' '[mariadbd]' "ssl_ca=$TLS_DIR/ca.pem" "ssl_cert=$TLS_DIR/server.pem" \
      "ssl_key=$TLS_DIR/mysql/server.key" > "$cnf"
  fi
  local main=/etc/mysql/my.cnf
  if ! grep -q "^!include $cnf" "$main"; then
    printf '\n!include %s\n' "$cnf" >> "$main"
  fi
  if [ "$(my_sql "SELECT @@have_ssl")" != YES ]; then
    log "restarting MariaDB with TLS"
    # Wait for this server to stop (its own pid, then its port), not for every mariadbd on the
    # machine: another instance on another port would never stop.
    local pid
    pid=$(cat "$(my_sql "SELECT @@pid_file")" 2>/dev/null || true)
    mariadb-admin --protocol=tcp -h 127.0.0.1 -P 3306 -u root shutdown
    if [ -n "$pid" ]; then
      wait_for "MariaDB (pid $pid) to stop" bash -c "! kill -0 $pid 2>/dev/null"
    fi
    wait_for "MariaDB to free port 3306" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for MariaDB my_ready
    [ "$(my_sql "SELECT @@have_ssl")" = YES ] || { log "MariaDB did not turn TLS on (see /var/log/mysql/error.log)"; return 1; }
  fi
  my_sql "CREATE USER IF NOT EXISTS 'tally_tls'@'%' REQUIRE SSL; GRANT ALL ON *.* TO 'tally_tls'@'%'"
}

ch_ready() { [ "$(curl -s --max-time 2 http://127.0.0.1:8123/ping)" = "Ok." ]; }

ensure_clickhouse() {
  command -v curl >/dev/null || apt_install curl
  if ch_ready; then return 0; fi
  if [ ! -x /usr/bin/clickhouse ]; then
    apt_install clickhouse-server clickhouse-client
  fi
  log "starting ClickHouse"
  mkdir -p /var/run/clickhouse-server && chown clickhouse: /var/run/clickhouse-server 2>/dev/null || true
  if ! /etc/init.d/clickhouse-server start >&2; then
    # Without an init system: the server daemonizes itself as the clickhouse user.
    runuser -u clickhouse -- /usr/bin/clickhouse-server --daemon \
      --config-file=/etc/clickhouse-server/config.xml --pid-file=/var/run/clickhouse-server/clickhouse-server.pid
  fi
  wait_for ClickHouse ch_ready
}

# HTTPS on port 8443 with the test certificate (Debian's config names certificate files that do
# not exist, so the port stays closed until these replace them).
clickhouse_tls() {
  local conf=/etc/clickhouse-server/config.d/tally-tests.xml
  if [ -f "$conf" ] && [ -f "$TLS_DIR/clickhouse/server.key" ]; then
    return 0
  fi
  server_key clickhouse
  mkdir -p /etc/clickhouse-server/config.d
  cat > "$conf" <<XML
<yandex>
  <https_port>8443</https_port>
  <openSSL>
    <server>
      <certificateFile>$TLS_DIR/server.pem</certificateFile>
      <privateKeyFile>$TLS_DIR/clickhouse/server.key</privateKeyFile>
      <dhParamsFile></dhParamsFile>
      <verificationMode>none</verificationMode>
    </server>
  </openSSL>
</yandex>
XML
  log "restarting ClickHouse with HTTPS"
  /etc/init.d/clickhouse-server restart >&2 || {
    pkill -x clickhouse-server || true
    wait_for "ClickHouse to stop" bash -c "! pgrep -x clickhouse-server"
    runuser -u clickhouse -- /usr/bin/clickhouse-server --daemon \
      --config-file=/etc/clickhouse-server/config.xml --pid-file=/var/run/clickhouse-server/clickhouse-server.pid
  }
  wait_for ClickHouse ch_ready
  wait_for "ClickHouse over HTTPS" curl -s --max-time 2 --cacert "$TLS_DIR/ca.pem" https://localhost:8443/ping
}

# pgbouncer on 127.0.0.1:6432 in front of the PostgreSQL above, as poolers are run beside
# applications: transaction pooling, one server connection per database, any user name.
ensure_pgbouncer() {
  local conf=/etc/pgbouncer/tally-tests.ini
  if [ -x /usr/sbin/pgbouncer ] && [ -f "$conf" ] && pg_isready -q -h 127.0.0.1 -p 6432; then return 0; fi
  [ -x /usr/sbin/pgbouncer ] || apt_install pgbouncer
  mkdir -p /etc/pgbouncer /var/log/postgresql /var/run/postgresql
  cat > "$conf" <<INI
[databases]
* = host=127.0.0.1 port=5432 user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 6432
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = 1
max_client_conn = 200
server_reset_query =
ignore_startup_parameters = extra_float_digits
logfile = /var/log/postgresql/pgbouncer-tally-tests.log
pidfile = /var/run/postgresql/pgbouncer-tally-tests.pid
INI
  chown postgres: /var/log/postgresql /var/run/postgresql 2>/dev/null || true
  chmod 644 "$conf"
  if ! pg_isready -q -h 127.0.0.1 -p 6432; then
    log "starting pgbouncer"
    runuser -u postgres -- /usr/sbin/pgbouncer -d "$conf"
  fi
  wait_for pgbouncer pg_isready -q -h 127.0.0.1 -p 6432
}

ensure_postgres
ensure_mariadb
ensure_clickhouse
ensure_pgbouncer
ensure_certificates
postgres_tls
mariadb_tls
clickhouse_tls
