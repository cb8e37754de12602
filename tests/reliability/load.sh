#!/usr/bin/env bash
# Load (issue 24, "Standing tests"), run by make reliability: wrk (Debian's) on
#   GET /api/v1/jobs                 51 jobs: one done, one training, 49 queued behind it
#   GET /api/v1/jobs/{id}/metrics    the done job's whole series: 2,000 rows (progress every step)
#   GET /metrics                     Prometheus
# one after another, LOAD_SECONDS each (default 20), LOAD_CONNECTIONS connections (default 4)
# on 2 threads, while a pretraining job trains on both cores (train.threads 2; the trainer runs
# at the lower priority the daemon gives it). Prints requests/s, p50 and p99 per endpoint and a
# Markdown table of them; requires p99 < 50 ms, no error answer and no socket error.
# Also the daemon's CPU time per request (from /proc/PID/stat), which the machine's other
# work does not change much. SIMMIMD=PATH runs another build of the daemon (to measure a
# change before and after).
# Prints "ok - ..." / "not ok - ..." lines; exits 1 if a check failed.
#   tests/reliability/load.sh
set -u
cd "$(dirname "$0")/../.."
seconds=${LOAD_SECONDS:-20}
connections=${LOAD_CONNECTIONS:-4}
. tests/integration/daemon_client.sh
daemon_session
command -v wrk > /dev/null || { echo "not ok - wrk is not installed (deploy/deps.sh --reliability)"; exit 1; }

mkdir -p "$tmp/data"
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" 1000 200
start_daemon --data-root "$tmp/data" --train-binary build/simmim-train
api POST /api/v1/datasets "{\"name\": \"fm\", \"format\": \"idx\", \"path\": \"$tmp/data/fm\"}" > /dev/null

# A job with many metric rows.
done_id=$(api POST /api/v1/jobs '{"dataset": "fm", "name": "many-metrics", "model": {"embed_dim": 32, "depth": 1, "num_heads": 2},
  "train": {"total_steps": 2000, "batch_size": 25, "threads": 2},
  "schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 500, "preview_every_steps": 500}}' | json id)
wait_state "$done_id" succeeded 600 || echo "# the job with many metric rows did not succeed"
rows=$(api GET "/api/v1/jobs/$done_id/metrics" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["metrics"]))')
bytes=$(curl -s "$base/api/v1/jobs/$done_id/metrics" | wc -c)
# The job that trains throughout, and 49 queued behind it.
train_id=$(api POST /api/v1/jobs '{"dataset": "fm", "name": "training", "model": {"embed_dim": 64, "depth": 2, "num_heads": 2},
  "train": {"total_steps": 1000000, "batch_size": 50, "threads": 2},
  "schedule": {"progress_every_steps": 10, "checkpoint_every_steps": 500, "preview_every_steps": 500}}' | json id)
for i in $(seq 49); do
  api POST /api/v1/jobs "{\"dataset\": \"fm\", \"name\": \"queued-$i\", \"priority\": -1, \"train\": {\"total_steps\": 10}}" > /dev/null
done
wait_state "$train_id" running 60
for _ in $(seq 300); do
  [ "$(api GET "/api/v1/jobs/$train_id" | json progress.step)" -ge 20 ] 2>/dev/null && break
  sleep 0.1
done
jobs_bytes=$(curl -s "$base/api/v1/jobs" | wc -c)
threads=$(grep -m1 '"event":"start"' "$tmp/state/runs/$train_id/events.jsonl" | python3 -c 'import json, sys; print(json.load(sys.stdin)["threads"])')
echo "# load: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, wrk -t2 -c$connections -d${seconds}s --latency;" \
     "job $train_id training on $threads threads; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

table="| endpoint | answer | requests/s | p50 | p99 | CPU per request |
|---|---|---|---|---|---|"
cpu_ticks() { awk '{print $14 + $15}' "/proc/$daemon_pid/stat"; }
ticks_per_s=$(getconf CLK_TCK)
step0=$(api GET "/api/v1/jobs/$train_id" | json progress.step)
t0=$(date +%s.%N)
for endpoint in /api/v1/jobs "/api/v1/jobs/$done_id/metrics" /metrics; do
  cpu0=$(cpu_ticks)
  wrk -t2 -c"$connections" -d"${seconds}s" --latency "$base$endpoint" > "$tmp/wrk.txt" 2>&1
  cpu1=$(cpu_ticks)
  sed "s/^/#   /" "$tmp/wrk.txt"
  read -r rps p50 p99 errors count <<< "$(python3 - "$tmp/wrk.txt" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[m.group(2)]
lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", text, re.M))
rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
errors = (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0)
done = re.search(r"(\d+) requests in", text)
print(rps.group(1) if rps else 0, ms(lat["50"]) if "50" in lat else -1, ms(lat["99"]) if "99" in lat else -1, errors,
      done.group(1) if done else 0)
EOF
)"
  case "$endpoint" in
    /api/v1/jobs) what="51 jobs, $jobs_bytes bytes" ;;
    /metrics) what="Prometheus text" ;;
    *) what="$rows rows, $bytes bytes" ;;
  esac
  label=${endpoint/\/$done_id\//\/\{id\}\/}
  cpu=$(python3 -c "print(f'{($cpu1 - $cpu0) * 1000 / $ticks_per_s / max($count, 1):.2f}')")
  table+="
| \`GET $label\` | $what | $(printf '%.0f' "$rps") | $(printf '%.2f' "$p50") ms | $(printf '%.2f' "$p99") ms | $cpu ms |"
  check "GET $label under load: p99 < 50 ms, no error" \
    $(python3 -c "print(1 if 0 <= $p99 < 50 and $errors == 0 else 0)") \
    "$rps requests/s, p50 $p50 ms, p99 $p99 ms, $errors errors, $cpu ms of daemon CPU per request ($what)"
done
secs=$(python3 -c "import time; print(time.time() - $t0)")
step1=$(api GET "/api/v1/jobs/$train_id" | json progress.step)
rate=$(python3 -c "print(f'{($step1 - $step0) * 50 / $secs:.0f}')")
check "the job kept training meanwhile" $([ "$(api GET "/api/v1/jobs/$train_id" | json state)" = running ] && [ "$step1" -gt "$step0" ] && echo 1 || echo 0) \
  "steps $step0 → $step1 in $(printf '%.0f' "$secs") s ($rate images/s on $threads threads); load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$table"
api POST "/api/v1/jobs/$train_id/cancel" > /dev/null
echo "# load: $failures check(s) failed"
[ "$failures" = 0 ]
