#!/usr/bin/env bash
# Runs the README's walkthrough (the shell block between the
# "walkthrough:begin" and "walkthrough:end" markers) as written, in a fresh
# folder with a model.onnx of the shape the walkthrough scores, on a free
# port instead of 8080, and checks that the curl in it got a score.
set -euo pipefail
readme=${1:?usage: walkthrough.sh README.md}
pier=${PIER:?set PIER to the pier executable}
here=$(cd "$(dirname "$0")" && pwd)
readme=$(cd "$(dirname "$readme")" && pwd)/$(basename "$readme")
work=$(mktemp -d /tmp/pier-walkthrough-XXXXXX)
cleanup() {
  (cd "$work" && "$pier" deploy delete myservice >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT

block=$(awk '/<!-- walkthrough:begin -->/{on=1; next} /<!-- walkthrough:end -->/{on=0} on' "$readme" | sed '/^```/d')
[ -n "$block" ] || { echo "no walkthrough block in $readme"; exit 1; }
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
block=${block//8080/$port}

cd "$work"
/usr/bin/python3 -c "
import sys; sys.path.insert(0, '$here')
from common import make_mlp
make_mlp('model.onnx', 1)
"
mkdir bin && ln -s "$pier" bin/pier
export PATH="$work/bin:$PATH"
echo "--- README walkthrough (port $port) ---"
printf '%s\n' "$block"
echo "---"
out=$(bash -euo pipefail -c "$block" 2>&1) || { printf '%s\n' "$out"; echo "the walkthrough failed"; exit 1; }
printf '%s\n' "$out"
grep -q '{"result":\[\[' <<<"$out" || { echo "the walkthrough's curl got no score"; exit 1; }
grep -q "deleted deployment myservice" <<<"$out" || { echo "the walkthrough did not delete its deployment"; exit 1; }
echo "walkthrough ok"
