#!/usr/bin/env bash
# The API holds under a connection flood (issue 24, point 1): with 1,000 connections open from
# other loopback addresses — half idle, half trickling a request head one byte a second —
# /api/v1/health and an authenticated request from 127.0.0.1 answer within 1 s; the trickling
# connections are cut once their head is 10 s late; one address holds at most its 64
# connections. Prints "ok - ..." / "not ok - ..." lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/daemon_client.sh
daemon_session
start_daemon --token flood-test
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

out=$(python3 tests/reliability/flood.py --url "$base" --token flood-test --connections 1000 \
        --mode mixed --hold 2 --probes 3 --timeout 3)
worst=$(field "$out" worst_s)
report "1,000 idle and trickling connections: health and an authenticated request answer within 1 s" \
  $(python3 -c "import sys; sys.exit(0 if '$worst' != 'None' and float('$worst') < 1 else 1)" && echo 1 || echo 0) "$out"

out=$(python3 tests/reliability/flood.py --url "$base" --token flood-test --connections 300 \
        --mode trickle --hold 12 --probes 1 --timeout 3)
report "connections trickling a request head are cut when it is 10 s late" \
  $([ "$(field "$out" still_open)" = 0 ] && echo 1 || echo 0) "$out"
curl -s -H 'Authorization: Bearer flood-test' "$base/metrics" | grep '^simmimd_http_head_deadline_cuts_total' > "$tmp/cuts"
report "the cuts are counted in /metrics" $(awk '{ok = $2 >= 300} END {exit !ok}' "$tmp/cuts" && echo 1 || echo 0) "$(cat "$tmp/cuts")"

out=$(python3 tests/reliability/flood.py --url "$base" --token flood-test --connections 100 \
        --per-address 100 --mode idle --hold 1 --probes 1 --timeout 3)
open=$(field "$out" still_open)
report "one address holds at most 64 connections" $([ "$open" -le 64 ] && [ "$open" -ge 60 ] && echo 1 || echo 0) \
  "$open of 100 still open"
# What a start logs: listening, whether train.ranks > 1 can run (launch.c), and Fashion-MNIST's
# registration (its scan started and ended).
quiet='^simmimd: \(listening\|registered\|train\.ranks > 1 \(runs under\|refused\)\|dataset fashion-mnist: scanning \|dataset fashion-mnist ready: \)'
report "the flood leaves no error lines in the log" \
  $(grep -qv "$quiet" "$tmp/daemon.log" && echo 0 || echo 1) "$(grep -cv "$quiet" "$tmp/daemon.log") other lines: $(grep -v "$quiet" "$tmp/daemon.log" | head -n 2 | tr '\n' ' ')"

# Malformed requests each make libmicrohttpd write a line: at most 10 a second reach the log,
# the rest are counted.
before=$(grep -c '^simmimd: http:' "$tmp/daemon.log")
python3 - "$port" <<'PY'
import socket, sys
for i in range(300):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET /\x00 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
    try:
        s.recv(4096)
    except OSError:
        pass
    s.close()
PY
for _ in $(seq 40); do grep -q 'left out of the log' "$tmp/daemon.log" && break; sleep 0.1; done
lines=$(( $(grep -c '^simmimd: http:' "$tmp/daemon.log") - before ))
report "300 malformed requests write at most 10 log lines a second, the rest counted" \
  $([ "$lines" -le 40 ] && grep -q 'more libmicrohttpd messages left out of the log' "$tmp/daemon.log" && echo 1 || echo 0) \
  "$lines lines; $(grep 'left out of the log' "$tmp/daemon.log" | head -n 1)"
