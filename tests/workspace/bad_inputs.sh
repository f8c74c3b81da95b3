#!/bin/bash
# Bad names, missing files, non-ONNX files (and other invalid models) each
# give a clear error, exit 1 or 2, and store nothing: the registry, the blob
# store and the staging folder are exactly as before.
set -euo pipefail
PIER=${PIER:?set PIER to the pier binary}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/pier_ws_bad.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset PIER_WORKSPACE
fail() { echo "FAIL: $*" >&2; exit 1; }

"$PY" "$HERE/make_models.py" "$T/models"
M=$T/models
cd "$T"
"$PIER" workspace init > /dev/null
"$PIER" model register "$M/add.onnx" --name keep --tag a=b > /dev/null

snapshot() {
  # Rows of every table, and every file (with its size) in the workspace.
  sqlite3 pier-workspace/registry.db \
    "SELECT * FROM models; SELECT name, version, sha256, size FROM versions; SELECT * FROM tags; SELECT * FROM aliases;"
  (cd pier-workspace && find blobs tmp -type f -printf '%p %s\n' | sort)
}
before=$(snapshot)

# expect_error WANT_SUBSTRING ARGS...: pier must exit 1 or 2 with
# "pier: error: ..." containing WANT_SUBSTRING on stderr, and store nothing.
expect_error() {
  local want=$1; shift
  local rc=0
  "$PIER" "$@" > "$T/out.txt" 2> "$T/err.txt" || rc=$?
  [ "$rc" = 1 ] || [ "$rc" = 2 ] || fail "pier $* exited $rc (want 1 or 2); stderr: $(cat "$T/err.txt")"
  grep -q "^pier: error: " "$T/err.txt" || fail "pier $*: no 'pier: error:' line: $(cat "$T/err.txt")"
  grep -qF -- "$want" "$T/err.txt" || fail "pier $*: error does not say '$want': $(cat "$T/err.txt")"
  [ "$(snapshot)" = "$before" ] || fail "pier $* changed the workspace"
  echo "ok ($rc): pier $* -> $(head -1 "$T/err.txt")"
}

# Bad names.
expect_error "only ASCII letters, digits" model register "$M/add.onnx" --name "bad/name"
expect_error "only ASCII letters, digits" model register "$M/add.onnx" --name "../../etc/passwd"
expect_error "only ASCII letters, digits" model register "$M/add.onnx" --name "with space"
expect_error "only ASCII letters, digits" model register "$M/add.onnx" --name "ünï"
expect_error "is empty" model register "$M/add.onnx" --name ""
expect_error "reserved" model register "$M/add.onnx" --name ".."
expect_error "the limit is 255" model register "$M/add.onnx" --name "$(printf 'n%.0s' $(seq 256))"
expect_error "tag key" model register "$M/add.onnx" --name ok --tag "bad key=v"
expect_error "expected KEY=VALUE" model register "$M/add.onnx" --name ok --property novalue
expect_error "only ASCII letters, digits" model show "bad/name"
expect_error "invalid version" model show "keep:abc"
expect_error "alias" model alias keep 42 1

# Missing files.
expect_error "no such file" model register "$T/does-not-exist.onnx" --name ok
expect_error "is a directory" model register "$M" --name ok

# Not ONNX, or not a model the registry takes.
expect_error "cannot parse as an ONNX model" model register "$M/not_onnx.onnx" --name ok
expect_error "empty" model register "$M/empty.onnx" --name ok
head -c 60 "$M/add.onnx" > "$T/truncated.onnx"
expect_error "truncated.onnx" model register "$T/truncated.onnx" --name ok
expect_error "external data" model register "$M/external.onnx" --name ok

# Lookups of what does not exist.
expect_error 'no model named "nope"' model show nope
expect_error "has no version 9" model download keep:9 -o "$T/x.onnx"
[ ! -e "$T/x.onnx" ] || fail "a failed download left a file"
expect_error "has no alias" model delete keep@prod

# A download into something that is not a regular file (a FIFO here, or
# /dev/stdout, which this test leaves alone) writes into it: renaming a file over it would replace the
# node itself.
mkfifo "$T/pipe"
timeout 20 cat "$T/pipe" > "$T/from_pipe" &
reader=$!
timeout 20 "$PIER" model download keep -o "$T/pipe" > /dev/null || fail "download into a FIFO failed"
wait "$reader" || fail "nothing was written into the FIFO"
[ -p "$T/pipe" ] || fail "download replaced the FIFO with a regular file"
cmp -s "$T/from_pipe" "$M/add.onnx" || fail "the FIFO got other bytes than the model"
rm -f "$T/pipe" "$T/from_pipe"

# An unsupported operator is a warning in the record, not a failure.
"$PIER" model register "$M/gradient.onnx" --name grad --json > "$T/grad.json" 2> "$T/grad.err"
grep -q "pier: warning: unsupported operator ai.onnx.preview.training::Gradient" "$T/grad.err" || fail "no warning"
"$PY" -c "import json,sys; w=json.load(open(sys.argv[1]))['warnings']; assert len(w)==1 and 'Gradient' in w[0], w" "$T/grad.json"

"$PIER" workspace check
echo "PASS: bad inputs"
