#!/usr/bin/env bash
# Installs tally's Debian package for real, runs it as the `tally` user, and removes it again
# (run by .ci/run as root). Usage: scripts/deb-test.sh [--profile dev|release]
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf 'deb-test: %s\n' "$*" >&2; }
if [ "$(id -u)" != 0 ]; then log "needs root (dpkg -i)"; exit 1; fi
command -v adduser >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq adduser >&2
deb=$(scripts/package.sh "$@" | tail -n 1)
# Start clean: no tally package, no secrets left by an earlier install.
dpkg --purge tally >/dev/null 2>&1 || true
rm -f /etc/tally/.env
log "installing $deb"
dpkg -i "$deb" >&2
trap 'dpkg -r tally >/dev/null 2>&1 || true' EXIT
[ "$(command -v tally)" = /usr/bin/tally ] || { log "tally is not /usr/bin/tally"; exit 1; }
runuser -u tally -- tally --version
[ "$(stat -c '%a %U' /etc/tally/.env)" = "600 tally" ] || { log "/etc/tally/.env is $(stat -c '%a %U' /etc/tally/.env), not 600 tally"; exit 1; }
[ "$(stat -c '%U' /var/lib/tally)" = tally ] || { log "/var/lib/tally is not the tally user's"; exit 1; }
[ -f /etc/tally/tally.toml.example ] && [ -f /usr/share/man/man1/tally.1.gz ] \
  && [ -f /usr/share/bash-completion/completions/tally ] && [ -f /usr/lib/systemd/system/tally.service ] \
  || { log "an installed file is missing"; exit 1; }
grep -q '^store = "/var/lib/tally/store.sqlite"' /etc/tally/tally.toml.example
log "checking the example as the tally user: it must name what is left to fill in"
set +e
out=$(runuser -u tally -- tally -c /etc/tally/tally.toml.example check 2>&1); code=$?
set -e
[ "$code" = 2 ] && grep -q 'SLACK_BOT_TOKEN' <<<"$out" && grep -q 'timezone' <<<"$out" \
  || { log "check of the example exited $code: $out"; exit 1; }
log "running the demo as the tally user"
runuser -u tally -- tally -q demo --dir /var/lib/tally/demo > /dev/null
runuser -u tally -- tally -c /var/lib/tally/demo/tally.toml -q report --no-sync > /dev/null
log "removing the package"
dpkg -r tally >&2
trap - EXIT
if [ -e /usr/bin/tally ]; then log "/usr/bin/tally is still there"; exit 1; fi
[ -e /etc/tally/.env ] || { log "dpkg -r removed /etc/tally/.env (only --purge may)"; exit 1; }
dpkg --purge tally >&2
if [ -e /etc/tally/.env ]; then log "dpkg --purge left /etc/tally/.env"; exit 1; fi
rm -rf /var/lib/tally/demo
log "ok"
