#!/usr/bin/env bash
# Interop tests: starts the real `doudi` binary and talks to it with Python grpcio (stubs
# generated from proto/ by grpcio-tools), grpcio-health-checking, grpcio-reflection (v1alpha),
# grpcio-status, and grpcurl through reflection. Installs its Python packages in a venv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=${DOUDI_INTEROP_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/doudi-interop-venv}

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"

(cd "$root" && cargo build -q -p doudi --bin doudi)
target=$(cd "$root" && cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
export DOUDI_BIN="$target/debug/doudi"
export DOUDI_PROTO_DIR="$root/proto"
export PATH="$venv/bin:$PATH"

cd "$here"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider test_interop.py test_settlement.py test_deploy.py test_bank.py
