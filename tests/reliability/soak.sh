#!/usr/bin/env bash
# Soak (issue 24, "Standing tests"), run by make reliability: SOAK_JOBS short pretraining jobs
# (default 50; 40 steps, a checkpoint and a preview every 20, one checkpoint kept) back to
# back, each submitted when the one before succeeded, with 20 event-stream clients connected
# throughout: 15 on /api/v1/events from the start, and 5 on /api/v1/jobs/{id}/events of jobs
# 1 to 5 from their submission on. Each job also gets a client on its own stream from its
# submission to its `done`, and its records are read once (job, list, metrics, checkpoints,
# previews, preview.png, logs, a checkpoint download), so that connections and requests come
# and go all along.
#
# After a warm-up of 5 jobs, and again after the last, the daemon's RSS (/proc/PID/status
# VmRSS) and open file descriptors (/proc/PID/fd) are read, each time 5 s after the job ended.
# Required: at the end both within 5% of their post-warm-up values (RSS: or within 5 MB),
# every job succeeded, every one of the 20 clients is still connected and saw each job's
# `done` (its job's, for a job stream), and so did each job's own client; and the daemon
# closed each job's own stream within 3 s of its client leaving (ss: its established
# connections). On a failure the scratch folder, with every stream's text, is kept.
# Prints "ok - ..." / "not ok - ..." lines and the figures; exits 1 if a check failed.
#   tests/reliability/soak.sh
set -u
cd "$(dirname "$0")/../.."
jobs_total=${SOAK_JOBS:-50}
warmup=5
tmp=$(mktemp -d)
daemon_pid=
clients=()
failures=0
cleanup() {
  for c in "${clients[@]}"; do kill "$c" 2>/dev/null; done
  [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  if [ "$failures" = 0 ]; then rm -rf "$tmp"; else echo "# kept for a look: $tmp (streams in sse/)"; fi
}
trap cleanup EXIT
. tests/integration/daemon_client.sh

port=$(free_port)
base="http://127.0.0.1:$port"
mkdir -p "$tmp/data" "$tmp/sse"
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" 1000 200
build/simmimd --listen "127.0.0.1:$port" --state-dir "$tmp/state" --data-root "$tmp/data" \
  > "$tmp/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 300); do curl -s -o /dev/null "$base/api/v1/health" && break; sleep 0.05; done
api POST /api/v1/datasets "{\"name\": \"fm\", \"format\": \"idx\", \"path\": \"$tmp/data/fm\"}" > /dev/null

server_conns() { ss -Htn state established "( sport = :$port )" | wc -l; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$daemon_pid/status"; }
fds() { ls "/proc/$daemon_pid/fd" | wc -l; }
stream() { # stream NAME PATH: a client in the background, its output in $tmp/sse/NAME
  curl -s -N "$base$2" > "$tmp/sse/$1" &
  clients+=($!)
}
saw_done() { # saw_done FILE JOB: the stream in FILE carried job JOB's done event
  python3 - "$1" "$2" <<'EOF'
import json, sys
name = None
for line in open(sys.argv[1], errors="replace"):
    if line.startswith("event: "):
        name = line[7:].strip()
    elif line.startswith("data: ") and name == "done":
        if json.loads(line[6:]).get("job_id") == int(sys.argv[2]):
            sys.exit(0)
sys.exit(1)
EOF
}

for i in $(seq 15); do stream "all-$i" /api/v1/events; done
persistent=("${clients[@]}")
spec='{"dataset": "fm", "model": {"embed_dim": 32, "depth": 1, "num_heads": 2},
  "train": {"total_steps": 40, "batch_size": 25, "threads": 2},
  "schedule": {"progress_every_steps": 5, "checkpoint_every_steps": 20, "preview_every_steps": 20,
               "keep_checkpoints": 1}}'
echo "# soak: $jobs_total jobs, $(date -u '+%Y-%m-%d %H:%M UTC')"
succeeded=0 own_done=0 own_missed="" slowest_close=0 series="" t_start=$(date +%s)
ids=()
for k in $(seq "$jobs_total"); do
  id=$(api POST /api/v1/jobs "$spec" | json id)
  ids+=("$id")
  stream "job-$id" "/api/v1/jobs/$id/events"
  own=${clients[-1]}
  if [ "$k" -le "$warmup" ]; then
    stream "keep-$id" "/api/v1/jobs/$id/events"
    persistent+=("${clients[-1]}")
  fi
  wait_state "$id" succeeded 300 && succeeded=$((succeeded + 1))
  for _ in $(seq 50); do saw_done "$tmp/sse/job-$id" "$id" && break; sleep 0.1; done
  if saw_done "$tmp/sse/job-$id" "$id"; then own_done=$((own_done + 1)); else own_missed+="$id "; fi
  # Its client leaves: the daemon must close the stream within a tick (not at its keepalives).
  before=$(server_conns)
  kill "$own" 2>/dev/null
  t0=$(date +%s.%N)
  for _ in $(seq 100); do [ "$(server_conns)" -lt "$before" ] && break; sleep 0.05; done
  closed_s=$(python3 -c "import time; print(f'{time.time() - $t0:.2f}')")
  slowest_close=$(python3 -c "print(max($slowest_close, $closed_s))")
  # Read everything of the job once.
  for p in "/api/v1/jobs/$id" /api/v1/jobs "/api/v1/jobs/$id/metrics" "/api/v1/jobs/$id/checkpoints" \
           "/api/v1/jobs/$id/previews" "/api/v1/jobs/$id/preview.png" "/api/v1/jobs/$id/logs" /metrics; do
    curl -s -o /dev/null "$base$p"
  done
  cid=$(api GET "/api/v1/jobs/$id/checkpoints" | json checkpoints.0.id)
  [ -n "$cid" ] && curl -s -o /dev/null "$base/api/v1/checkpoints/$cid/download"
  series+="$k:$(( $(rss_kb) / 1024 ))MB/$(fds) "
  if [ "$k" = "$warmup" ] || [ "$k" = "$jobs_total" ]; then
    sleep 5
    if [ "$k" = "$warmup" ]; then
      rss0=$(rss_kb) fd0=$(fds)
      echo "# after the warm-up of $warmup jobs: RSS $rss0 kB, $fd0 open file descriptors"
    else
      rss1=$(rss_kb) fd1=$(fds)
      echo "# after job $k: RSS $rss1 kB, $fd1 open file descriptors"
    fi
  fi
done
elapsed=$(( $(date +%s) - t_start ))
echo "# after each job (RSS MB / fds, read at once): $series"

check "$jobs_total jobs back to back succeed" $([ "$succeeded" = "$jobs_total" ] && echo 1 || echo 0) \
  "$succeeded of $jobs_total in $elapsed s"
rss_ok=$(python3 -c "print(1 if abs($rss1 - $rss0) <= max(0.05 * $rss0, 5 * 1024) else 0)")
check "the daemon's RSS at the end is within 5% (or 5 MB) of its value after the warm-up" "$rss_ok" \
  "$rss0 kB → $rss1 kB ($(python3 -c "print(f'{($rss1 - $rss0) / 1024:+.2f} MB, {100 * ($rss1 - $rss0) / $rss0:+.1f}%')"))"
fd_ok=$(python3 -c "print(1 if abs($fd1 - $fd0) <= 0.05 * $fd0 else 0)")
check "its open file descriptors at the end are within 5% of their number after the warm-up" "$fd_ok" "$fd0 → $fd1"
alive=0
for c in "${persistent[@]}"; do kill -0 "$c" 2>/dev/null && alive=$((alive + 1)); done
check "all 20 event-stream clients are still connected" $([ "$alive" = 20 ] && echo 1 || echo 0) "$alive of ${#persistent[@]}"
# The 15 streams of every job must each hold all the jobs' done events; the 5 job streams
# their job's.
complete=$(python3 - "$tmp/sse" "${ids[*]}" "${ids[*]:0:$warmup}" <<'EOF'
import json, os, sys
folder, ids, kept = sys.argv[1], set(map(int, sys.argv[2].split())), sys.argv[3].split()
def done_jobs(path):
    seen, name = set(), None
    for line in open(path, errors="replace"):
        if line.startswith("event: "):
            name = line[7:].strip()
        elif line.startswith("data: ") and name == "done":
            seen.add(json.loads(line[6:]).get("job_id"))
    return seen
n = 0
for name, want in [(f"all-{i}", ids) for i in range(1, 16)] + [(f"keep-{j}", {int(j)}) for j in kept]:
    missing = want - done_jobs(os.path.join(folder, name))
    n += not missing
    if missing:
        print(f"# client {name} saw no done of job(s) {sorted(missing)}", file=sys.stderr)
print(n)
EOF
)
check "each of them saw every job's done (a job stream: its job's)" $([ "$complete" = 20 ] && echo 1 || echo 0) \
  "$complete of 20 clients; $(grep -c '^event: done' "$tmp/sse/all-1") done events on the first /api/v1/events client"
check "each job's own stream client saw its done" $([ "$own_done" = "$jobs_total" ] && echo 1 || echo 0) \
  "$own_done of $jobs_total${own_missed:+; not jobs $own_missed}"
check "a job stream whose client left is closed within 3 s (libmicrohttpd does not watch a parked stream)" \
  $(python3 -c "print(1 if $slowest_close <= 3 else 0)") "the slowest of $jobs_total after ${slowest_close} s"
keepalives=$(grep -c '^: keepalive' "$tmp/sse/keep-${ids[0]}")
echo "# the stream of job ${ids[0]} (idle after its done) got $keepalives keepalives"
echo "# soak: $failures check(s) failed"
[ "$failures" = 0 ]
