#!/bin/bash
# The full CLI flow, run from a subfolder of the folder holding the
# workspace (found through .pier/config.json in a parent): init, register
# twice, list, show, tag, alias, download and compare with cmp, delete.
set -euo pipefail
PIER=${PIER:?set PIER to the pier binary}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/pier_ws_cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
unset PIER_WORKSPACE

fail() { echo "FAIL: $*" >&2; exit 1; }
# json FILE EXPR: evaluates EXPR on the parsed JSON (as j) and prints it.
json() { "$PY" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
step() { echo "== $*"; }

"$PY" "$HERE/make_models.py" "$T/models"
M=$T/models

mkdir -p "$T/project" && cd "$T/project"
step init
"$PIER" workspace init | tee init.txt
grep -q "created workspace $T/project/pier-workspace" init.txt || fail "init did not create ./pier-workspace"
[ -f .pier/config.json ] || fail "no .pier/config.json"
[ -f pier-workspace/registry.db ] || fail "no registry.db"
[ "$(sqlite3 pier-workspace/registry.db 'PRAGMA journal_mode')" = wal ] || fail "the database is not in WAL mode"

mkdir -p src/deep/er && cd src/deep/er   # every later command runs from here

step register twice
"$PIER" model register "$M/add.onnx" --name adder --tag stage=dev --tag candidate \
  --property framework=onnx --description "adds a constant" > reg1.txt
cat reg1.txt
grep -q "^registered adder:1$" reg1.txt || fail "first register is not version 1"
"$PIER" model register "$M/mul.onnx" --name adder --json > reg2.json
[ "$(json reg2.json 'j["version"]')" = 2 ] || fail "second register is not version 2"
[ "$(json reg2.json 'sorted(j)')" = "$(json reg2.json 'sorted(["name","version","sha256","size","tags","properties","description","inputs","outputs","opsets","created","producer","ir_version","warnings","aliases"])')" ] \
  || fail "unexpected record keys: $(json reg2.json 'sorted(j)')"
[ "$(json reg2.json 'j["sha256"]')" = "$(sha256sum "$M/mul.onnx" | cut -d' ' -f1)" ] || fail "sha256 differs"
[ "$(json reg2.json 'j["size"]')" = "$(stat -c %s "$M/mul.onnx")" ] || fail "size differs"
[ "$(json reg2.json 'j["inputs"][0]["shape"]')" = "['N', 3]" ] || fail "input signature"
[ "$(json reg2.json 'j["opsets"]')" = "{'ai.onnx': 13}" ] || fail "opsets"

step list
"$PIER" model list | tee list.txt
[ "$(grep -c '^adder ' list.txt)" = 2 ] || fail "list does not show both versions"
"$PIER" model list --json > list.json
[ "$(json list.json 'len(j)')" = 2 ] || fail "list --json"
"$PIER" model list --tag stage=dev --json > dev.json
[ "$(json dev.json '[r["version"] for r in j]')" = "[1]" ] || fail "list --tag stage=dev"
"$PIER" model list --tag candidate --name adder --json > cand.json
[ "$(json cand.json 'len(j)')" = 1 ] || fail "list --tag candidate"

step show
"$PIER" model show adder --json > latest.json
[ "$(json latest.json 'j["version"]')" = 2 ] || fail "show NAME is not the latest version"
"$PIER" model show adder:1 --json > v1.json
[ "$(json v1.json 'j["description"]')" = "adds a constant" ] || fail "description"
[ "$(json v1.json 'j["properties"]')" = "{'framework': 'onnx'}" ] || fail "properties"
[ "$(json v1.json 'j["producer"]["name"]')" = "pier-tests" ] || fail "producer"
"$PIER" model show adder:1 | grep -q "tensor(float)\[N,3\]" || fail "text show lacks the signature"

step tag
"$PIER" model tag adder:1 --set stage=prod --set owner=ml --remove candidate
"$PIER" model show adder:1 --json > tagged.json
[ "$(json tagged.json 'j["tags"]')" = "{'owner': 'ml', 'stage': 'prod'}" ] || fail "tags after tag: $(json tagged.json 'j["tags"]')"
if "$PIER" model tag adder:1 --remove candidate 2> err.txt; then fail "removing a missing tag succeeded"; fi
grep -q 'has no tag "candidate"' err.txt || fail "unclear error: $(cat err.txt)"

step alias
"$PIER" model alias adder production 1
"$PIER" model show adder@production --json > prod.json
[ "$(json prod.json 'j["version"]')" = 1 ] || fail "adder@production is not version 1"
[ "$(json prod.json 'j["aliases"]')" = "['production']" ] || fail "aliases in the record"

step download and compare
"$PIER" model download adder@production -o out1.onnx
cmp out1.onnx "$M/add.onnx" || fail "download of adder@production differs from what was registered"
mkdir -p dl && "$PIER" model download adder:2 -o dl
cmp dl/adder-2.onnx "$M/mul.onnx" || fail "download of adder:2 differs"
"$PIER" model download adder:1 -o - > stdout.onnx
cmp stdout.onnx "$M/add.onnx" || fail "download to stdout differs"

step check
"$PIER" workspace check

step delete
"$PIER" model delete adder:1
"$PIER" model list --json > after.json
[ "$(json after.json '[r["version"] for r in j]')" = "[2]" ] || fail "delete adder:1"
if "$PIER" model show adder@production 2> err.txt; then fail "the alias survived its version"; fi
grep -q 'no alias "production"' err.txt || fail "unclear error: $(cat err.txt)"
"$PIER" model delete adder
[ "$(find "$T/project/pier-workspace/blobs" -type f | wc -l)" = 0 ] || fail "blobs left after deleting every version"
"$PIER" model list | grep -q "no models" || fail "list after delete"

step check again
"$PIER" workspace check --json > check.json
[ "$(json check.json 'j["ok"]')" = True ] || fail "check: $(cat check.json)"
[ "$(json check.json 'j["info"]')" = "[]" ] || fail "check info: $(cat check.json)"

step "--workspace and \$PIER_WORKSPACE take precedence"
"$PIER" workspace init "$T/other" --no-config > /dev/null
"$PIER" model register "$M/add.onnx" --name elsewhere --workspace "$T/other" > /dev/null
PIER_WORKSPACE=$T/other "$PIER" model list --json > env.json
[ "$(json env.json '[r["name"] for r in j]')" = "['elsewhere']" ] || fail "PIER_WORKSPACE was not used"
"$PIER" model list --json > cfg.json
[ "$(json cfg.json 'len(j)')" = 0 ] || fail "the config's workspace was not used"
cd / && if "$PIER" model list 2> "$T/err.txt"; then fail "found a workspace from /"; fi
grep -q "no workspace found" "$T/err.txt" || fail "unclear error: $(cat "$T/err.txt")"

echo "PASS: cli flow"
