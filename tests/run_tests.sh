#!/usr/bin/env bash
# Runs test programs, echoes their output, and counts the "ok -" / "not ok -" lines they
# print. A program that dies or exits non-zero without reporting a failure counts as one
# failed test. Ends with the line "N passed, N failed".
set -u
# Idle OpenMP threads sleep instead of spinning: on a loaded 2-core machine spinning threads
# of tiny test-sized regions starve each other (seconds become minutes).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
passed=0
failed=0
for t in "$@"; do
  echo "== $t"
  out=$(mktemp)
  start=$SECONDS
  "$t" > "$out" 2>&1
  rc=$?
  cat "$out"
  echo "# $t took $((SECONDS - start)) s" # what to trim when make test nears its 10 minutes
  p=$(grep -c '^ok - ' "$out")
  f=$(grep -c '^not ok - ' "$out")
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $t exited with status $rc"
    f=1
  fi
  passed=$((passed + p))
  failed=$((failed + f))
  rm -f "$out"
done
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
