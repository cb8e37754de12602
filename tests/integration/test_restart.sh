#!/usr/bin/env bash
# Restarts without loss (issue 24, points 4 and 5):
#  - a trainer that outlives a kill -9 of its daemon (it checkpoints on the SIGTERM its
#    parent's death sends) and writes its last events after the new daemon re-read
#    events.jsonl: none of them is lost (the old trainer is held with SIGSTOP until the new
#    daemon has recovered, so the order is forced, not hoped for);
#  - a trainer killed by a signal nobody asked for is restarted from its last checkpoint after
#    a 10 s backoff with a `restarted` event, and the job succeeds with every step once; its
#    restart count resets once it checkpoints past the kill; killed again before that, beyond
#    --max-restarts, the job fails saying why.
# Prints "ok - ..." / "not ok - ..." lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/daemon_client.sh
daemon_session
cleanup_extra() { pkill -CONT -f "simmim-train.*$tmp" 2>/dev/null; }
mkdir -p "$tmp/data"
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" 1000 200
trainer_pid() { pgrep -f "simmim-train --spec $state/runs/$1/" | head -n 1; }
wait_step() { # wait_step JOB STEP
  for _ in $(seq 600); do
    [ "$(api GET "/api/v1/jobs/$1" | json progress.step)" -ge "$2" ] 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
wait_run_step() { # wait_run_step JOB RUN STEP: the RUN-th trainer of JOB has reported STEP
  for _ in $(seq 600); do
    python3 -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
starts = [i for i, e in enumerate(events) if e["event"] == "start"]
run = int(sys.argv[2])
sys.exit(not (len(starts) >= run and any(e["event"] == "progress" and e["step"] >= int(sys.argv[3])
                                         for e in events[starts[run - 1]:])))' \
      "$state/runs/$1/events.jsonl" "$2" "$3" 2>/dev/null && [ -n "$(trainer_pid "$1")" ] && return 0
    sleep 0.1
  done
  return 1
}
progress_steps() { # the steps of a job's stored progress metrics
  api GET "/api/v1/jobs/$1/metrics" | python3 -c '
import json, sys
print(" ".join(str(m["step"]) for m in json.load(sys.stdin)["metrics"] if "loss" in m))'
}
small='"model": {"embed_dim": 32, "depth": 1, "num_heads": 2}'

start_daemon --data-root "$tmp/data" --max-restarts 1
api POST /api/v1/datasets "{\"name\": \"fm\", \"format\": \"idx\", \"path\": \"$tmp/data/fm\"}" > /dev/null

# --- 5. the old trainer's last events, written after the new daemon's recovery ---------------
job=$(api POST /api/v1/jobs "{\"dataset\": \"fm\", $small, \"train\": {\"epochs\": 2, \"batch_size\": 25},
  \"schedule\": {\"progress_every_steps\": 1, \"checkpoint_every_steps\": 1000}}" | json id)
wait_step "$job" 15
old=$(trainer_pid "$job")
kill -STOP "$old"          # the SIGTERM of its parent's death waits until it runs again
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
start_daemon --data-root "$tmp/data" --max-restarts 1
for _ in $(seq 100); do [ "$(api GET "/api/v1/jobs/$job" | json state)" != running ] && break; sleep 0.1; done
held=$(grep -c '"event":"stopped"' "$state/runs/$job/events.jsonl")
kill -CONT "$old"          # now it finishes its step, checkpoints, writes its last events, exits
wait_state "$job" succeeded 180
ok=$?
steps=$(progress_steps "$job")
report "a trainer that outlived its daemon writes its last events after the new one recovered: none lost" \
  $([ $ok = 0 ] && [ "$held" = 0 ] && [ "$steps" = "$(seq -s ' ' 1 80)" ] && echo 1 || echo 0) \
  "state $(api GET "/api/v1/jobs/$job" | json state); progress steps: $steps"

# --- 4. a killed trainer is restarted from its last checkpoint ------------------------------
curl -s -N "$base/api/v1/events" > "$tmp/sse.txt" &
job=$(api POST /api/v1/jobs "{\"dataset\": \"fm\", $small, \"train\": {\"epochs\": 3, \"batch_size\": 25},
  \"schedule\": {\"progress_every_steps\": 1, \"checkpoint_every_steps\": 20}}" | json id)
wait_step "$job" 30
kill -9 "$(trainer_pid "$job")"
t0=$(date +%s)
wait_state "$job" queued 20
report "a trainer killed by SIGKILL sends its job back to the queue, not to failed" \
  $([ $? = 0 ] && [ "$(api GET "/api/v1/jobs/$job" | json restarts)" = 1 ] && echo 1 || echo 0) \
  "state $(api GET "/api/v1/jobs/$job" | json state), restarts $(api GET "/api/v1/jobs/$job" | json restarts)"
wait_state "$job" running 30
waited=$(( $(date +%s) - t0 ))
report "it starts again after its backoff (10 s)" $([ "$waited" -ge 9 ] && [ "$waited" -le 20 ] && echo 1 || echo 0) "$waited s"
wait_state "$job" succeeded 180
ok=$?
steps=$(progress_steps "$job")
# The second run's start, and the newest checkpoint the first run wrote before it.
resume=$(python3 -c '
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
second = [i for i, e in enumerate(events) if e["event"] == "start"][1]
saved = [e["step"] for e in events[:second] if e["event"] == "checkpoint"]
print(events[second]["resumed_from_step"], saved[-1] if saved else 0)' "$state/runs/$job/events.jsonl")
set -- $resume
report "the restarted trainer resumes from its last checkpoint and the job succeeds, every step once" \
  $([ $ok = 0 ] && [ "$steps" = "$(seq -s ' ' 1 120)" ] && [ "${1:-x}" = "${2:-y}" ] && echo 1 || echo 0) \
  "resumed from step ${1:-?}, the last checkpoint before the kill at step ${2:-?}; progress steps $(echo "$steps" | wc -w)"
report "its restart count is back to 0 once it checkpointed past the kill" \
  $([ "$(api GET "/api/v1/jobs/$job" | json restarts)" = 0 ] && echo 1 || echo 0) "restarts $(api GET "/api/v1/jobs/$job" | json restarts)"
grep -A1 '^event: restarted' "$tmp/sse.txt" | grep '^data:' | head -n 1 > "$tmp/restarted"
report "the restart is a 'restarted' event with the signal and the attempt" \
  $(grep -q '"signal":9' "$tmp/restarted" && grep -q '"attempt":1' "$tmp/restarted" && grep -q '"signal_name":"KILL"' "$tmp/restarted" && echo 1 || echo 0) \
  "$(cat "$tmp/restarted")"

job=$(api POST /api/v1/jobs "{\"dataset\": \"fm\", $small, \"train\": {\"epochs\": 3, \"batch_size\": 25},
  \"schedule\": {\"progress_every_steps\": 1, \"checkpoint_every_steps\": 1000}}" | json id)
wait_step "$job" 10
kill -9 "$(trainer_pid "$job")"
wait_state "$job" running 40
wait_run_step "$job" 2 3 # the job's progress still shows the first run's step 10
kill -9 "$(trainer_pid "$job")"
wait_state "$job" failed 20
report "killed again before a checkpoint past the kill, beyond --max-restarts 1, the job fails saying why" \
  $([ $? = 0 ] && api GET "/api/v1/jobs/$job" | json error | grep -q 'killed by signal 9.*max-restarts' && echo 1 || echo 0) \
  "$(api GET "/api/v1/jobs/$job" | json error)"
