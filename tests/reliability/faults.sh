#!/usr/bin/env bash
# Fault injection (issue 24, "Standing tests"), run by make reliability; needs root (tmpfs and
# bind mounts, unmounted on exit).
#
#  1. kill -9: an uninterrupted reference run of a short pretraining job (300 steps, a
#     checkpoint every 20), then FAULT_RUNS runs (default 20) of the same job, each with one
#     SIGKILL at a moment drawn from FAULT_SEED (default: the clock; printed) — of the daemon
#     (started again at once) or of the trainer (the daemon restarts it after its backoff;
#     --max-restarts 100). Most moments are a random step; six are inside a checkpoint write,
#     four of them the trainer's (fault_kill.py: when the trainer creates step-N.state.tmp.<pid>
#     or step-N.safetensors.tmp.<pid>, or has just renamed step-N.safetensors into place and
#     not yet written its checkpoint event; each at least once). Every run must succeed with
#     final weights bit-identical to the reference (tensor_digest.py: the tensor data and
#     table, not the metadata) and every progress step stored once.
#  2. A full disk: the state dir is a 6 MB tmpfs that the job's checkpoints fill. The job
#     fails with an error naming the full disk, the last complete checkpoint is intact (its
#     sha256 as recorded), `pragma integrity_check` says ok, and the API answers, also once the
#     last byte is taken; after the tmpfs is grown, a new job succeeds.
#  3. At start: a read-only database (its file bind-mounted read-only; and mode 0444 with the
#     daemon run as nobody), a read-only state dir, and a database another process holds
#     locked (BEGIN EXCLUSIVE): simmimd exits non-zero with an error saying so.
# Prints "ok - ..." / "not ok - ..." lines and one line per kill; exits 1 if a check failed.
#   tests/reliability/faults.sh            FAULT_SEED=N FAULT_RUNS=N to choose
set -u
cd "$(dirname "$0")/../.."
runs=${FAULT_RUNS:-20}
seed=${FAULT_SEED:-$(date +%s)}
tmp=$(mktemp -d)
chmod 755 "$tmp"
daemon_pid=
mounts=()
cleanup() {
  [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  for m in "${mounts[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT
. tests/integration/daemon_client.sh
if [ "$(id -u)" != 0 ]; then
  echo "not ok - faults.sh needs root (tmpfs and bind mounts)"
  exit 1
fi

port=$(free_port)
base="http://127.0.0.1:$port"
mkdir -p "$tmp/data"
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" 1000 200
start_daemon() { # start_daemon STATE_DIR [flags]: in the background, waits for health
  local dir=$1
  shift
  build/simmimd --listen "127.0.0.1:$port" --state-dir "$dir" --data-root "$tmp/data" "$@" \
    >> "$tmp/daemon.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 300); do curl -s -o /dev/null "$base/api/v1/health" && return 0; sleep 0.05; done
  return 1
}
stop_daemon() {
  kill -TERM "$daemon_pid" 2>/dev/null
  wait "$daemon_pid" 2>/dev/null
  daemon_pid=
}
register() { api POST /api/v1/datasets "{\"name\": \"fm\", \"format\": \"idx\", \"path\": \"$tmp/data/fm\"}" > /dev/null; }
submit() { api POST /api/v1/jobs "$1" | json id; }
progress_steps() {
  api GET "/api/v1/jobs/$1/metrics" | python3 -c '
import json, sys
print(" ".join(str(m["step"]) for m in json.load(sys.stdin)["metrics"] if "loss" in m))'
}

# --- 1. kill -9 at 20 moments ---------------------------------------------------------------
echo "# fault injection: seed $seed, $runs runs; $(date -u '+%Y-%m-%d %H:%M UTC')"
job='{"dataset": "fm", "model": {"embed_dim": 64, "depth": 2, "num_heads": 2},
  "train": {"total_steps": 300, "batch_size": 25, "threads": 2},
  "schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 20, "preview_every_steps": 100}}'
state="$tmp/state"
start_daemon "$state" --max-restarts 100
register
t0=$(date +%s.%N)
ref=$(submit "$job")
wait_state "$ref" succeeded 600
ok=$?
ref_s=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
ref_digest=$(python3 tests/reliability/tensor_digest.py "$state/runs/$ref/checkpoints/step-300.safetensors" 2>/dev/null)
check "the reference run (uninterrupted) succeeds" $([ $ok = 0 ] && [ -n "$ref_digest" ] && echo 1 || echo 0) \
  "job $ref, $ref_s s, final weights' tensor data sha256 ${ref_digest%% *}"
expected_steps=$(seq -s ' ' 1 300)

# The plan: half the kills of each target; the trainer's include one inside the write of
# each file of a checkpoint (its state file, its weights, just after the weights' rename) and
# one more at a checkpoint, the daemon's two at a checkpoint; the others at a random step; in
# a random order.
python3 - "$seed" "$runs" > "$tmp/plan" <<'EOF'
import random, sys
r = random.Random(int(sys.argv[1]))
n = int(sys.argv[2])
moments = {"trainer": ["state", "weights", "renamed", r.choice(["state", "weights", "renamed"])],
           "daemon": [r.choice(["state", "weights", "renamed"]) for _ in range(2)]}
plan = []
for target, count in (("trainer", n - n // 2), ("daemon", n // 2)):
    kinds = (moments[target] + ["step"] * count)[:count]
    plan += [(target, kind) for kind in kinds]
r.shuffle(plan)
for target, kind in plan:
    if kind == "step":
        print(target, "step", r.randint(1, 299))
    else:
        print(target, "checkpoint", 20 * r.randint(1, 15), kind)
EOF

good=0 interrupted=0 write_kills=0 steps_once=0 daemon_kills=0 trainer_kills=0 total_s=0
run=0
while read -r target mode step which; do
  run=$((run + 1))
  id=$(submit "$job")
  t0=$(date +%s.%N)
  if [ "$mode" = step ]; then
    args=("$state/runs/$id" step "$step")
  else
    args=("$state/runs/$id" checkpoint "$step" "$which")
  fi
  if [ "$target" = daemon ]; then
    result=$(python3 tests/reliability/fault_kill.py "${args[@]}" daemon "$daemon_pid")
    wait "$daemon_pid" 2>/dev/null
    start_daemon "$state" --max-restarts 100
    daemon_kills=$((daemon_kills + 1))
  else
    result=$(python3 tests/reliability/fault_kill.py "${args[@]}" trainer)
    trainer_kills=$((trainer_kills + 1))
  fi
  wait_state "$id" succeeded 600
  ok=$?
  secs=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
  total_s=$(python3 -c "print($total_s + $secs)")
  digest=$(python3 tests/reliability/tensor_digest.py "$state/runs/$id/checkpoints/step-300.safetensors" 2>/dev/null)
  steps=$(progress_steps "$id")
  resumed=$(python3 -c '
import json, sys
print(",".join(str(json.loads(l).get("resumed_from_step")) for l in open(sys.argv[1]) if "\"event\":\"start\"" in l))' \
    "$state/runs/$id/events.jsonl")
  killed=$(echo "$result" | json killed)
  detail=$(echo "$result" | python3 -c '
import json, sys
r = json.load(sys.stdin)
s = r.get("moment", "?") + (f", the last progress step written {r['"'"'step_seen'"'"']}" if "step_seen" in r else "")
if "interrupted" in r and r.get("target") == "trainer":
    s += ", the write " + ("interrupted" if r["interrupted"] else "already complete")
print(s)')
  if [ "$mode" = checkpoint ] && [ "$target" = trainer ]; then
    write_kills=$((write_kills + 1))
    [ "$(echo "$result" | json interrupted)" = True ] && interrupted=$((interrupted + 1))
  fi
  same=0
  [ -n "$digest" ] && [ "$digest" = "$ref_digest" ] && same=1
  [ "$steps" = "$expected_steps" ] && steps_once=$((steps_once + 1))
  if [ $ok = 0 ] && [ "$killed" = True ] && [ $same = 1 ]; then
    good=$((good + 1))
    verdict=ok
  else
    verdict=FAILED
  fi
  echo "# run $run: kill -9 of the $target at $detail; job $id $(api GET "/api/v1/jobs/$id" | json state) in $secs s, trainer started from steps $resumed, final weights $([ $same = 1 ] && echo identical || echo "DIFFERENT (${digest%% *})"), progress steps $([ "$steps" = "$expected_steps" ] && echo "1-300 once" || echo "WRONG: $(echo "$steps" | wc -w) stored") — $verdict"
done < "$tmp/plan"
check "$runs runs with a kill -9 ($daemon_kills of the daemon, $trainer_kills of the trainer) end succeeded with final weights bit-identical to the uninterrupted run" \
  $([ "$good" = "$runs" ] && echo 1 || echo 0) "$good of $runs (seed $seed; $(python3 -c "print(f'{$total_s:.0f}')") s in all)"
check "every run stored every progress step once" $([ "$steps_once" = "$runs" ] && echo 1 || echo 0) "$steps_once of $runs"
check "kills of the trainer at a checkpoint write interrupted the write (temporary file left, or no checkpoint event)" \
  $([ "$interrupted" -ge 1 ] && echo 1 || echo 0) "$interrupted of $write_kills"
stop_daemon

# --- 2. a full disk ---------------------------------------------------------------------------
full="$tmp/full"
mkdir -p "$full"
mount -t tmpfs -o size=6m tmpfs "$full" && mounts+=("$full")
start_daemon "$full"
register
id=$(submit '{"dataset": "fm", "model": {"embed_dim": 64, "depth": 2, "num_heads": 2},
  "train": {"total_steps": 3000, "batch_size": 25, "threads": 2},
  "schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 20, "preview_every_steps": 20,
               "keep_checkpoints": 1000}}')
for _ in $(seq 1200); do
  s=$(api GET "/api/v1/jobs/$id" | json state)
  [ "$s" != queued ] && [ "$s" != running ] && break
  sleep 0.1
done
job_json=$(api GET "/api/v1/jobs/$id")
s=$(echo "$job_json" | json state)
error=$(echo "$job_json" | json error)
check "a full disk: the job fails or pauses with an error naming it" \
  $( { [ "$s" = failed ] || [ "$s" = paused ]; } && echo "$error" | grep -q 'No space left on device' && echo 1 || echo 0) \
  "state $s at step $(echo "$job_json" | json progress.step), error: $error; $(df -k --output=used,size "$full" | tail -n 1 | awk '{print $1 " of " $2 " KB used"}')"
# The newest checkpoint with both files, and its weights against the sha256 recorded.
last=$(ls "$full/runs/$id/checkpoints" | sed -n 's/^step-\([0-9]*\)\.safetensors$/\1/p' | sort -n |
       while read -r n; do [ -f "$full/runs/$id/checkpoints/step-$n.state" ] && echo "$n"; done | tail -n 1)
recorded=$(api GET "/api/v1/jobs/$id/checkpoints" | python3 -c '
import json, sys
d = json.load(sys.stdin)
rows = d["checkpoints"] if isinstance(d, dict) else d
print(next((c["sha256"] for c in rows if c["step"] == int(sys.argv[1])), ""))' "${last:-0}")
actual=$([ -n "$last" ] && sha256sum "$full/runs/$id/checkpoints/step-$last.safetensors" | cut -d' ' -f1)
leftovers=$(ls "$full/runs/$id/checkpoints" | grep -c '\.tmp\.')
check "the last complete checkpoint survives, its weights as recorded, and no partial file is left" \
  $([ -n "$last" ] && [ -n "$recorded" ] && [ "$recorded" = "$actual" ] && [ "$leftovers" = 0 ] && echo 1 || echo 0) \
  "step ${last:-none}: sha256 ${actual:0:16}…, recorded ${recorded:0:16}…; $leftovers temporary files"
dd if=/dev/zero of="$full/filler" bs=4k 2> /dev/null  # the last byte too
answers=""
for p in /api/v1/health /api/v1/jobs "/api/v1/jobs/$id" "/api/v1/jobs/$id/metrics" /metrics; do
  answers+="$p $(curl -s -m 5 -o /dev/null -w '%{http_code}' "$base$p") "
done
post=$(api POST /api/v1/jobs '{"dataset": "fm", "train": {"total_steps": 10}}')
post_status=$(status)
check "with the disk full to the last byte the API answers: reads 200, a submission an error" \
  $( [ "$(echo "$answers" | grep -o ' 200' | wc -l)" = 5 ] && case "$post_status" in 4??|5??) true ;; *) false ;; esac &&
     echo 1 || echo 0) \
  "${answers}POST /api/v1/jobs $post_status $post"
integrity=$(python3 -c 'import sqlite3, sys; print(sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True).execute("pragma integrity_check").fetchone()[0])' "$full/simmimd.db" 2>&1)
check "the database passes pragma integrity_check" $([ "$integrity" = ok ] && echo 1 || echo 0) "$integrity"
rm -f "$full/filler"
mount -o remount,size=64m "$full"
id2=$(submit '{"dataset": "fm", "model": {"embed_dim": 32, "depth": 1, "num_heads": 2}, "train": {"total_steps": 20, "batch_size": 25}}')
wait_state "$id2" succeeded 120
check "once the disk has room again, a new job succeeds" $([ $? = 0 ] && echo 1 || echo 0) "job $id2 $(api GET "/api/v1/jobs/$id2" | json state)"
stop_daemon
umount "$full" && mounts=("${mounts[@]/$full}")

# --- 3. a database simmimd cannot write at start -----------------------------------------------
# start_fails NAME STATE_DIR [command prefix...]: simmimd must exit non-zero within 30 s,
# saying what matches the regular expression $expect.
start_fails() {
  local name=$1 dir=$2
  shift 2
  local t0 out rc secs
  t0=$(date +%s.%N)
  out=$(timeout 30 "$@" build/simmimd --listen "127.0.0.1:$port" --state-dir "$dir" 2>&1 > /dev/null)
  rc=$?
  secs=$(python3 -c "import time; print(f'{time.time() - $t0:.1f}')")
  check "$name: simmimd exits non-zero with an error saying so" \
    $([ $rc != 0 ] && [ $rc != 124 ] && echo "$out" | grep -Eq "$expect" && echo 1 || echo 0) \
    "exit $rc after $secs s: $(echo "$out" | tail -n 1)"
}
ro="$tmp/ro"
start_daemon "$ro"   # a database with its schema, then a clean stop
stop_daemon
mount --bind "$ro/simmimd.db" "$ro/simmimd.db" && mounts+=("$ro/simmimd.db")
mount -o remount,bind,ro "$ro/simmimd.db"
expect='database.*read-only'
start_fails "a read-only database file (a read-only bind mount)" "$ro"
umount "$ro/simmimd.db" && mounts=("${mounts[@]/$ro\/simmimd.db}")

chown -R nobody "$ro" && chmod 0444 "$ro/simmimd.db"
start_fails "a database file of mode 0444 (the daemon run as nobody)" "$ro" \
  setpriv --reuid=nobody --regid=nogroup --clear-groups
chown -R root "$ro" && chmod 0644 "$ro/simmimd.db"

rofs="$tmp/rofs"
mkdir -p "$rofs"
mount -t tmpfs -o size=8m tmpfs "$rofs" && mounts+=("$rofs")
cp -a "$ro" "$rofs/state"
mount -o remount,ro "$rofs"
expect='Read-only file system'
start_fails "a state dir on a read-only file system" "$rofs/state"
umount "$rofs" && mounts=("${mounts[@]/$rofs}")

python3 -c '
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(40)' "$ro/simmimd.db" > "$tmp/locker" &
locker=$!
for _ in $(seq 100); do grep -q locked "$tmp/locker" && break; sleep 0.05; done
expect='database is locked'
start_fails "a database another process holds locked" "$ro"
kill "$locker" 2>/dev/null
wait "$locker" 2>/dev/null

echo "# fault injection: $failures check(s) failed"
[ "$failures" = 0 ]
