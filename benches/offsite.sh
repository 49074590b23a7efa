#!/usr/bin/env bash
# Off-site speed side by side: tt-vault's first snapshot and restore against
# `rclone copy` up and down and `restic backup` / `restore`, all to moto's S3 server
# on loopback, on the same corpus (incompressible files, like videos).
#
#   cargo build --release && benches/offsite.sh
#
# Environment (all optional):
#   TT_VAULT_BIN   the binary to time (default target/release/tt-vault)
#   TT_VAULT_BASE  another tt-vault binary (e.g. main's) timed beside it, as "base"
#   TT_VAULT_MOTO  moto_server (default target/ci-venv/bin/moto_server, as .ci/run installs it)
#   RUNS           runs of each side, interleaved (default 3); the table shows medians
#   FILES, SIZE    the corpus: FILES files of SIZE bytes each (default 30 × 10 MB)
#   CACHE_SIZE     tt-vault's --cache-size (default 1: restore downloads every pack)
#   BENCH_DIR      scratch folder (default a new one under /tmp, removed at the end)
# A peer that is not installed (rclone, restic: `apt-get install rclone restic`) is
# skipped and said so.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin=${TT_VAULT_BIN:-$here/target/release/tt-vault}
moto=${TT_VAULT_MOTO:-$here/target/ci-venv/bin/moto_server}
runs=${RUNS:-3}
files=${FILES:-30}
size=${SIZE:-10000000}
cache=${CACHE_SIZE:-1}

[ -x "$bin" ] || { echo "no tt-vault binary at $bin: cargo build --release first" >&2; exit 2; }
[ -x "$moto" ] || { echo "no moto_server at $moto: set TT_VAULT_MOTO (or run .ci/run)" >&2; exit 2; }

work=${BENCH_DIR:-$(mktemp -d /tmp/tt-offsite-bench.XXXXXX)}
mkdir -p "$work"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$moto" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto_pid=$!
cleanup() {
    kill "$moto_pid" 2>/dev/null || true
    wait "$moto_pid" 2>/dev/null || true
    [ -n "${BENCH_DIR:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
endpoint=http://127.0.0.1:$port
for _ in $(seq 100); do curl -s -o /dev/null "$endpoint" && break; sleep 0.1; done

export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench AWS_REGION=us-east-1
export TT_VAULT_S3_ENDPOINT=$endpoint TZ=UTC
export RCLONE_CONFIG_MOTO_TYPE=s3 RCLONE_CONFIG_MOTO_PROVIDER=Other
export RCLONE_CONFIG_MOTO_ENDPOINT=$endpoint RCLONE_CONFIG_MOTO_ACCESS_KEY_ID=bench
export RCLONE_CONFIG_MOTO_SECRET_ACCESS_KEY=bench RCLONE_CONFIG_MOTO_REGION=us-east-1
export RESTIC_PASSWORD=bench-password
# rclone refuses to start when a CA bundle is set for AWS and the endpoint is plain http.
unset AWS_CA_BUNDLE

corpus=$work/corpus
mkdir -p "$corpus"
for i in $(seq -w 1 "$files"); do
    head -c "$size" /dev/urandom >"$corpus/video$i.mp4"
done
total_mib=$(du -sm --apparent-size "$corpus" | cut -f1)

have() { command -v "$1" >/dev/null; }
bucket() { curl -sf -X PUT "$endpoint/$1" >/dev/null; }
# Seconds the command takes (it must succeed).
timed() {
    local start end
    start=$(date +%s.%N)
    "$@" >>"$work/log" 2>&1 || { echo "failed: $*" >&2; tail -5 "$work/log" >&2; return 1; }
    end=$(date +%s.%N)
    printf "%.3f" "$(echo "$end - $start" | bc)"
}
same() { diff -r "$corpus" "$1" >/dev/null || { echo "$1 differs from the corpus" >&2; exit 1; }; }

declare -A times
# Times `$2…` into the list $1 (the script stops if it fails).
record() {
    local key=$1 t
    shift
    t=$(timed "$@")
    times[$key]="${times[$key]:-} $t"
}

# tt-vault ($2, default $bin) into a fresh bucket; the times go under $3 (default tt).
run_tt() {
    local r=$1 b=${2:-$bin} name=${3:-tt}
    local v=$work/$name-vault$r out=$work/$name-out$r
    bucket "$name-$r"
    "$b" --vault "$v" init --remote "s3://$name-$r/tt" --cache-size "$cache" >>"$work/log" 2>&1
    record "${name}_up" "$b" --vault "$v" snapshot --media "$corpus" --account bench
    record "${name}_down" "$b" --vault "$v" restore --to "$out"
    same "$out/media/corpus"
    rm -rf "$v" "$out"
}
run_base() { run_tt "$1" "$TT_VAULT_BASE" base; }
run_rclone() {
    local r=$1 out=$work/rclone-out$r
    bucket "rclone-$r"
    record rclone_up rclone copy "$corpus" "moto:rclone-$r/corpus"
    record rclone_down rclone copy "moto:rclone-$r/corpus" "$out"
    same "$out"
    rm -rf "$out"
}
run_restic() {
    local r=$1 out=$work/restic-out$r
    bucket "restic-$r"
    export RESTIC_REPOSITORY=s3:$endpoint/restic-$r
    restic init >>"$work/log" 2>&1
    record restic_up restic backup "$corpus"
    record restic_down restic restore latest --target "$out"
    same "$out$corpus"
    rm -rf "$out" "$HOME/.cache/restic"
}

peers=(tt)
if [ -n "${TT_VAULT_BASE:-}" ]; then peers+=(base); fi
if have rclone; then peers+=(rclone); else echo "rclone not installed: skipped" >&2; fi
if have restic; then peers+=(restic); else echo "restic not installed: skipped" >&2; fi

echo "corpus: $files files, $total_mib MiB; moto on $endpoint; $runs runs interleaved" >&2
for r in $(seq "$runs"); do
    for p in "${peers[@]}"; do
        "run_$p" "$r"
        echo "run $r $p: up${times[${p}_up]##* } s, down${times[${p}_down]##* } s" >&2
    done
done

median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.2f", m}'; }
cell() { if [ -n "${times[$1]:-}" ]; then echo "$(median "${times[$1]}") s"; else echo "—"; fi; }

echo
echo "$(date -u +%F), $files files, $total_mib MiB, medians of $runs runs; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
row() { printf '| %-26s | %9s | %13s | %27s |' "$1" "$2" "$3" "$4"; [ -z "${TT_VAULT_BASE:-}" ] || printf ' %15s |' "$5"; echo; }
row step tt-vault '`rclone copy`' '`restic backup` / `restore`' "tt-vault (base)"
row "---------------------------" "--------:" "------------:" "--------------------------:" "--------------:"
row "first snapshot / upload" "$(cell tt_up)" "$(cell rclone_up)" "$(cell restic_up)" "$(cell base_up)"
row "restore / download" "$(cell tt_down)" "$(cell rclone_down)" "$(cell restic_down)" "$(cell base_down)"
