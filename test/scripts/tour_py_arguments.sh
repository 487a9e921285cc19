#!/usr/bin/env bash
# examples/cpython/tour.py refuses what it cannot use with exit 2 and a one-line reason,
# never a traceback: a missing or wrong --against program, a --pictures that is a file,
# a module in another era than the fake tour's rows, and --rows with another option.
#   tour_py_arguments.sh PYTHON TOUR_PY REVIVE_TOUR   (PYTHONPATH finds the module)
set -u
python=$1 tour_py=$2 revive_tour=$3
failed=0
expect_refused() {
  local reason=$1; shift
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ "$rc" -ne 2 ] || [[ "$err" != *"$reason"* ]] || [[ "$err" == *Traceback* ]]; then
    echo "FAIL: $* -> exit $rc, expected 2 with '$reason':"
    echo "$err"
    failed=1
  else
    echo "ok: ${*:3} -> $reason"
  fi
}
expect_refused "not an executable file" "$python" "$tour_py" --against /nonexistent preserved
expect_refused "it exited with 1" "$python" "$tour_py" --against /bin/false preserved
expect_refused "is not revive-tour's" "$python" "$tour_py" --against /bin/echo preserved
expect_refused "exists and is not a directory" "$python" "$tour_py" --pictures /etc/passwd preserved
expect_refused "runs era E4" env REVIVE_ERA=E4 "$python" "$tour_py" --against "$revive_tour" preserved
expect_refused "no scenario named" "$python" "$tour_py" nonsense
expect_refused "no scenario named" "$python" "$tour_py" --rows nonsense
expect_refused "--rows prints the rows only" "$python" "$tour_py" --rows --against "$revive_tour"
exit $failed
