#!/usr/bin/env bash
# Configuring with a Python other than 3.11 stops at once with revive's own reason
# (what it found, and the three ways out), whatever the other Python's version.
#   python_version.sh SOURCE_DIR
set -u
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0
for version in 3.12 3.10; do
  printf '#!/bin/sh\necho %s\n' "$version" > "$tmp/python$version"
  chmod +x "$tmp/python$version"
  out=$(cmake -S "$src" -B "$tmp/build$version" -G Ninja -DPython3_EXECUTABLE="$tmp/python$version" 2>&1)
  rc=$?
  if [ "$rc" -eq 0 ] || [[ "$out" != *"is written against CPython 3.11"* ]] || [[ "$out" != *"is $version."* ]]; then
    echo "FAIL: a Python $version was not refused with revive's reason (exit $rc):"
    echo "$out" | tail -15
    failed=1
  else
    echo "ok: Python $version refused"
  fi
done
exit $failed
