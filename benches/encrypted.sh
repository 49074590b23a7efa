#!/bin/bash
# Plain against encrypted on the same corpus: first snapshot, restore, verify --read-data,
# the data path alone (TT_VAULT_KDF=test leaves the argon2id cost out). After
# `cargo build --release`: benches/encrypted.sh (env: ROUNDS, default 3; B, the binary;
# D, the scratch folder). Prints a line a step: round mode step wall user sys maxrss_kb.
set -e
B=${B:-$(cd "$(dirname "$0")/.." && pwd)/target/release/tt-vault}
D=${D:-/tmp/enc-ratio}
ROUNDS=${ROUNDS:-3}
rm -rf $D; mkdir -p $D/corpus
python3 - "$D/corpus" <<'PY'
import os,random,sys
r=random.Random(7); tot=0; i=0
while tot < 302_000_000:
    n=r.randint(1_000_000,12_000_000); i+=1
    with open(os.path.join(sys.argv[1], f"v{i:03}.mp4"),"wb") as f: f.write(os.urandom(n))
    tot+=n
PY
echo "bench passphrase" > $D/pass
export TT_VAULT_KDF=test
t() { /usr/bin/time -f "%e %U %S %M" -o $D/t "$@" >/dev/null; cat $D/t; }
for round in $(seq 1 $ROUNDS); do
  for mode in plain enc; do
    export TT_VAULT=$D/vault-$mode
    rm -rf $TT_VAULT $D/out-$mode
    if [ $mode = enc ]; then export TT_VAULT_PASSWORD_FILE=$D/pass; $B -q init --encrypt; else unset TT_VAULT_PASSWORD_FILE; $B -q init; fi
    sync
    echo "$round $mode snapshot $(t $B -q snapshot --media $D/corpus --account b)"
    echo "$round $mode restore $(t $B -q restore --latest --to $D/out-$mode)"
    echo "$round $mode verify $(t $B -q verify --read-data)"
  done
  uptime
done
rm -rf $D
