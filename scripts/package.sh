#!/usr/bin/env bash
# Builds tally's Debian package: the binary, then the man page, the shell completions and the
# example config generated from it (never written by hand), then `cargo deb --no-build`.
# Usage: scripts/package.sh [--profile dev]   (default: release; CI packages the test build)
# Needs cargo-deb (`cargo install cargo-deb --locked`). Prints the path of the .deb.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release
if [ "${1:-}" = --profile ]; then profile=$2; fi
target=${CARGO_TARGET_DIR:-target}
case $profile in
  dev) dir=debug ;;
  *) dir=$profile ;;
esac
cargo build --locked --profile "$profile" --bin tally >&2
bin=$target/$dir/tally
assets=$target/$dir/deb
rm -rf "$assets" && mkdir -p "$assets"
"$bin" completions bash > "$assets/tally.bash"
"$bin" completions zsh > "$assets/_tally"
"$bin" completions fish > "$assets/tally.fish"
"$bin" man | gzip -9 -n > "$assets/tally.1.gz"
# The example is what `tally init` writes, with the store and reports in /var/lib/tally.
scratch=$(mktemp -d)
"$bin" init "$scratch" > /dev/null
sed -e 's|^store = .*|store = "/var/lib/tally/store.sqlite"   # StateDirectory of the systemd unit|' \
    "$scratch/tally.toml" > "$assets/tally.toml.example"
printf '\n[output]\ndir = "/var/lib/tally/reports"\n' >> "$assets/tally.toml.example"
rm -rf "$scratch"
command -v cargo-deb >/dev/null || { echo "cargo-deb is missing: cargo install cargo-deb --locked" >&2; exit 1; }
cargo deb --no-build --profile "$profile" --fast --quiet
