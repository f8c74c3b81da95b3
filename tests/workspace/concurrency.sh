#!/bin/bash
# Concurrent registers of one name from several processes get distinct,
# consecutive versions and none is lost: 2 processes x 20 registers give
# versions 1 to 40, all present (and the workspace checks clean).
set -euo pipefail
PIER=${PIER:?set PIER to the pier binary}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/pier_ws_conc.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset PIER_WORKSPACE
PROCS=${PROCS:-2}
EACH=${EACH:-20}

"$PY" "$HERE/make_models.py" "$T/models"
export PIER_WORKSPACE=$T/ws
"$PIER" workspace init "$T/ws" --no-config > /dev/null

worker() {
  local p=$1 model
  for i in $(seq "$EACH"); do
    # Alternate contents so that both new and already-stored blobs are hit.
    if [ $(( (i + p) % 2 )) = 0 ]; then model=add; else model=mul; fi
    if ! "$PIER" model register "$T/models/$model.onnx" --name shared --tag "proc=$p" --tag "i=$i" --json \
         > "$T/out.$p.$i" 2> "$T/err.$p.$i"; then
      echo "process $p register $i failed: $(cat "$T/err.$p.$i")" >&2
      return 1
    fi
  done
}

pids=()
for p in $(seq "$PROCS"); do worker "$p" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid"; done

"$PIER" model list --name shared --json > "$T/list.json"
"$PY" - "$T" "$PROCS" "$EACH" <<'PYEOF'
import glob, json, sys
t, procs, each = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
want = list(range(1, procs * each + 1))
reported = sorted(json.load(open(f)).get("version") for f in glob.glob(t + "/out.*"))
assert reported == want, f"versions the registers printed: {reported}"
listed = json.load(open(t + "/list.json"))
assert [r["version"] for r in listed] == want, f"versions listed: {[r['version'] for r in listed]}"
# Every register's own tags are on the version it was given.
for f in glob.glob(t + "/out.*"):
    r = json.load(open(f))
    got = next(x for x in listed if x["version"] == r["version"])
    assert got["tags"] == r["tags"] and got["sha256"] == r["sha256"], (r, got)
print(f"PASS: {procs} processes x {each} registers -> versions 1..{procs * each}, all present")
PYEOF
"$PIER" workspace check
