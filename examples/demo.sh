#!/usr/bin/env bash
# The main job on the sample data that ships with the repo, offline: build, create a
# vault, snapshot two TikTok exports (June and November) with a folder of saved videos,
# browse and diff them, restore June by date, verify, and check that every restored
# byte equals the original.
set -euo pipefail
cd "$(dirname "$0")/.."

# The first build compiles the dependencies (a few minutes); cargo shows its progress.
cargo build --locked --release
tt="$PWD/target/release/tt-vault"
work="$(mktemp -d "${TMPDIR:-/tmp}/tt-vault-demo.XXXXXX")"
trap 'rm -rf "$work"' EXIT
export TT_VAULT="$work/vault"
sample="$PWD/examples/sample"

step() { printf '\n== %s\n' "$*"; }

step "tt-vault init";  "$tt" init
# --download none: the demo is offline; a real run fetches the posts' videos too.
step "snapshot of the June export and the saved videos"
"$tt" snapshot --export "$sample/export-2026-06/user_data_tiktok.json" \
    --media "$sample/saved_videos" --download none --time 2026-06-01T10:00:00Z
step "snapshot of the November export (only what changed is stored)"
"$tt" snapshot --export "$sample/export-2026-11/user_data_tiktok.json" \
    --media "$sample/saved_videos" --download none --time 2026-11-01T10:00:00Z
step "tt-vault snapshots";                      "$tt" snapshots
step "tt-vault show profile --date 2026-06-01"; "$tt" show profile --date 2026-06-01
step "tt-vault show posts";                     "$tt" show posts
step "tt-vault diff 2026-06-01 2026-11-01";     "$tt" diff 2026-06-01 2026-11-01
step "tt-vault restore --date 2026-06-01";      "$tt" restore --date 2026-06-01 --to "$work/out"
step "tt-vault verify --read-data";             "$tt" verify --read-data
step "tt-vault stats";                          "$tt" stats

cmp "$sample/export-2026-06/user_data_tiktok.json" "$work/out/export/user_data_tiktok.json"
diff -r "$sample/saved_videos" "$work/out/media/saved_videos"
ls "$work/out/views"
printf '\ndemo: the June export and the saved videos came back byte for byte\n'

cat <<EOF

What to try next (\`cargo install --locked --path .\` puts tt-vault on your PATH):
  tt-vault serve                          # browse a vault in your web browser (if your build has it)
  cp examples/config.toml ~/.config/tt-vault/config.toml   # name your accounts and export folder
  tt-vault run                            # then every account, forget, prune, verify, in one go
  tt-vault schedule --install daily       # and that every day, unattended
EOF
