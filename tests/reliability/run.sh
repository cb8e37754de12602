#!/usr/bin/env bash
# make reliability: the standing reliability suites of issue 24 (not make test: they take
# minutes, and faults.sh needs root), one after another — fault injection, soak, load, and
# 50 kill -9 of the daemon — each one's whole output kept in
# tests/bench/results/reliability-<suite>.txt, headed by the machine and the date. Ends with
# "N suites passed, N failed"; exits 1 if one failed.
#   tests/reliability/run.sh [SUITE...]      (faults soak load kill_daemon_loop; default all)
set -u
cd "$(dirname "$0")/../.."
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(faults soak load kill_daemon_loop)
results=tests/bench/results
machine="$(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores"
passed=0 failed=0
for suite in "${suites[@]}"; do
  out="$results/reliability-$suite.txt"
  case "$suite" in
    kill_daemon_loop) cmd=(tests/reliability/kill_daemon_loop.sh 50) ;;
    *) cmd=("tests/reliability/$suite.sh") ;;
  esac
  echo "== $suite: ${cmd[*]}"
  start=$(date +%s)
  {
    echo "# ${cmd[*]} — $machine — $(date -u '+%Y-%m-%d %H:%M UTC') — load average $(cut -d' ' -f1-3 /proc/loadavg)"
    "${cmd[@]}" 2>&1
    echo "# exit status $?, $(( $(date +%s) - start )) s"
  } | tee "$out"
  # kill_daemon_loop.sh reports runs, not ok lines: its summary and exit status decide.
  if grep -q '^# exit status 0,' "$out" && ! grep -q '^not ok' "$out"; then
    passed=$((passed + 1))
    echo "ok - $suite ($(( $(date +%s) - start )) s)"
  else
    failed=$((failed + 1))
    echo "not ok - $suite ($(( $(date +%s) - start )) s; see $out)"
  fi
done
echo "$passed suites passed, $failed failed"
[ "$failed" = 0 ]
