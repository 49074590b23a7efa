#!/usr/bin/env bash
# The main job on the sample data that ships with the repo, offline: build, create a
# vault, snapshot the sample, list it, restore it by date, verify it, and check that
# every restored byte equals the original.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --locked --release --quiet
tt="$PWD/target/release/tt-vault"
work="$(mktemp -d "${TMPDIR:-/tmp}/tt-vault-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export TT_VAULT="$work/vault"
sample="$PWD/examples/sample"

echo "== init";      "$tt" init
echo "== snapshot";  "$tt" snapshot --account sample_user --media "$sample/saved_videos"
echo "== again (nothing new is stored)"
"$tt" snapshot --account sample_user --media "$sample/saved_videos"
echo "== snapshots"; "$tt" snapshots
echo "== ls";        "$tt" ls latest
echo "== restore";   "$tt" restore --date "$(date -u +%Y-%m-%d)Z" --to "$work/out"
echo "== verify";    "$tt" verify --read-data
echo "== stats";     "$tt" stats
diff -r "$sample/saved_videos" "$work/out/media/saved_videos"
echo "demo: restored files are byte-identical to the sample"
