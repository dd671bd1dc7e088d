#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs what it needs, then runs tests/unit and
# tests/devices (two pytest runs; this fails if either fails).  Extra arguments go to both
# (e.g. scripts/test.sh -k engine).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
run() { .venv/bin/python -m pytest -q -p no:cacheprovider "$@"; }
unit=0
run tests/unit "$@" || unit=$?
devices=0
run tests/devices "$@" || devices=$?
# 5 is "no tests collected": fine for one part (a -k that matches only the other), not both
if [ "$unit" -eq 5 ] && [ "$devices" -eq 5 ]; then exit 5; fi
[ "$unit" -eq 5 ] && unit=0
[ "$devices" -eq 5 ] && devices=0
[ "$unit" -ne 0 ] && exit "$unit"
exit "$devices"
