#!/usr/bin/env bash
# scripts/dev stops when CMake's configure step fails, even where it builds quietly
# (inside an `if`, where bash's set -e is off): a `cmake` that fails to configure and
# pretends to build must make `scripts/dev tour` fail, not run the tour built before.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
cat > "$fake/cmake" <<'FAKE'
#!/bin/sh
case "$1" in
  --preset) echo "configure failed (on purpose)" >&2; exit 1 ;;
  *) exit 0 ;;
esac
FAKE
chmod +x "$fake/cmake"
out=$(PATH="$fake:$PATH" bash "$root/scripts/dev" tour --list 2>&1)
rc=$?
if [ "$rc" -eq 0 ]; then
  echo "scripts/dev tour went on after a failed configure (exit 0):"
  echo "$out"
  exit 1
fi
case "$out" in
  *"configure failed (on purpose)"*) echo "refused: exit $rc, the configure error shown" ;;
  *) echo "exit $rc, but the configure error was not shown:"; echo "$out"; exit 1 ;;
esac
