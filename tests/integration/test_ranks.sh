#!/usr/bin/env bash
# Data-parallel training (train.ranks, issue 29) on a tiny model and a Fashion-MNIST subset:
# 2 ranks under mpirun give 1 rank's losses step for step (global batch 256, random and block
# masks, relative difference ≤ 1e-5 over 20 steps) and validation losses — on the l2 loss: the
# kernels round a row differently in a batch of 128 than of 256, and l1's slope is a sign, so
# a pixel predicted within that rounding of its target can flip and move the step's gradient
# by ~1e-3 (seed 5 with block masks: 1.3e-5 after 20 steps; l2, smooth_l1: ~1e-7). So do
# streamed datasets — a PNG folder and tar shards, each rank decoding its rows — with files
# and samples that fail to decode: the same replacements and data_error events as 1 rank, and
# too many failures (in training, or in rank 0's evaluations) fail both ranks at the same
# step, rank 0 alone saying why. Rank 0 alone
# writes events and the run dir, and the state records its ranks; SIGUSR1 stops both ranks
# after the same step with a checkpoint, and a run resumes on another rank count to the
# uninterrupted run's losses (2 → 1 cached and from a folder, 1 → 2 from shards); a rank killed
# ends the job (mpirun names it) and a hung one fails it after --rank-timeout with an error
# naming its rank and host, leaving no process behind; rank 0's evaluation longer than
# --rank-timeout does not fail the job, and rank 0 stopped during it does; the build without
# MPI (build/nompi/simmim-train) refuses ranks with a clear error. Through the daemon: a
# 2-rank job runs under mpirun, pauses, resumes and succeeds; a batch the ranks do not divide,
# ranks on a daemon whose trainer lacks MPI, and more ranks than this host's cores without
# --oversubscribe (which mpirun would refuse) are refused at submission naming the field.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/daemon_client.sh
export OMP_WAIT_POLICY=passive
export OMPI_MCA_btl_vader_single_copy_mechanism=none # containers: no ptrace between ranks
mpi=(mpirun -np 2 --oversubscribe)
[ "$(id -u)" = 0 ] && mpi+=(--allow-run-as-root)
train=build/simmim-train
if ! command -v mpirun > /dev/null || [ "$($train --capabilities)" = '{"mpi": null}' ]; then
  echo "ok - test_ranks.sh skipped: no mpirun, or simmim-train built without MPI (make MPI=0)"
  exit 0
fi

fm_session 2048 256 --mpi-args "--oversubscribe" --rank-timeout 60
data="{\"format\": \"idx\", \"path\": \"$tmp/data/fm\"}"
tiny='"model": {"embed_dim": 32, "depth": 1, "num_heads": 1, "patch_size": 8}'
spec() { # spec FILE RANKS MASK STEPS [DATASET [MAX_ERROR_FRACTION]]: the tiny model, batch 256
  cat > "$1" <<JSON
{"kind": "pretrain", "dataset": ${5:-$data}, $tiny, "mask": {"type": "$3"}, "loss": {"type": "l2"},
 "data": {"cache_mb": 0, "max_error_fraction": ${6:-0.05}},
 "train": {"total_steps": $4, "batch_size": 256, "seed": 5, "threads": 1, "ranks": $2},
 "eval": {"knn": {"enabled": false}},
 "schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 1000, "preview_every_steps": 1000}}
JSON
}
losses() { python3 -c 'import json,sys; print(" ".join(str(json.loads(l)[sys.argv[2]]) for l in open(sys.argv[1]) if "\"%s\"" % sys.argv[3] in l))' "$1" "$2" "$3"; }
# same A B: the largest relative difference of two lists of numbers, and 1 if ≤ 1e-5 (and as long)
same() { python3 -c 'import sys; a=[float(x) for x in sys.argv[1].split()]; b=[float(x) for x in sys.argv[2].split()]; d=max([abs(x-y)/abs(x) for x,y in zip(a,b)] or [1]); print(int(len(a)==len(b) and len(a)>0 and d<=1e-5), "%d/%d steps, max rel diff %.2g" % (len(a), len(b), d))' "$1" "$2"; }
left() { pgrep -f "^$train .*--run-dir $1" > /dev/null && echo 0 || echo 1; } # no rank of run dir $1 left
ranks_cmd() { [ "$1" = 1 ] && cmd=($train) || cmd=("${mpi[@]}" $train); } # ranks_cmd N: the command in $cmd
# the data_error events of two runs' events.jsonl, their times aside: 1 if the same
same_errors() { cmp -s <(grep '"data_error"' "$1" | sed 's/"t":[^,]*,//') <(grep '"data_error"' "$2" | sed 's/"t":[^,]*,//') && echo 1 || echo 0; }
rank_of() { # rank_of R DIR: the pid of rank R of the run in dir DIR
  for p in $(pgrep -f "^$train .*--run-dir $2"); do
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1" && echo $p
  done
}
# pair NAME MASK [DATASET]: 20 steps on 1 rank (run dir NAME-1) and 2 ranks (NAME-2) side by
# side, their losses and validation losses compared
pair() {
  spec "$tmp/$1-1.json" 1 "$2" 20 "${3:-$data}"
  spec "$tmp/$1-2.json" 2 "$2" 20 "${3:-$data}"
  $train --spec "$tmp/$1-1.json" --run-dir "$tmp/$1-1" > /dev/null 2> "$tmp/$1-1.err" &
  local one=$! rc
  "${mpi[@]}" $train --spec "$tmp/$1-2.json" --run-dir "$tmp/$1-2" > "$tmp/$1-2.out" 2> "$tmp/$1-2.err"
  rc=$?
  wait $one
  read -r ok detail <<< "$(same "$(losses "$tmp/$1-1/events.jsonl" loss progress)" "$(losses "$tmp/$1-2/events.jsonl" loss progress)")"
  check "$1: 2 ranks train the 1-rank losses step for step (batch 256)" "$ok" "exit $rc; $detail"
  read -r ok detail <<< "$(same "$(losses "$tmp/$1-1/events.jsonl" val_loss eval)" "$(losses "$tmp/$1-2/events.jsonl" val_loss eval)")"
  check "$1: and the same validation losses" "$ok" "$detail"
}
# resumed NAME FIRST THEN: NAME's 20-step run (pair's specs) on FIRST ranks, stopped by SIGUSR1
# after step 4, then resumed on THEN ranks; its losses from there against NAME-1's uninterrupted
resumed() {
  local dir="$tmp/$1-stop" pid rc stopped at resumed whole after
  ranks_cmd $2
  "${cmd[@]}" --spec "$tmp/$1-$2.json" --run-dir "$dir" > /dev/null 2> "$dir.err" &
  pid=$!
  for _ in $(seq 300); do grep -q '"step":4,' "$dir/events.jsonl" 2>/dev/null && break; sleep 0.02; done
  kill -USR1 $pid
  wait $pid
  rc=$?
  stopped=$(grep '"event":"stopped"' "$dir/events.jsonl")
  at=$(echo "$stopped" | json step)
  check "$1: SIGUSR1 to $2 rank(s): they stop after the same step, rank 0 checkpoints, exit 0" \
    $([ $rc = 0 ] && [ -n "$at" ] && [ -f "$dir/checkpoints/step-$at.state" ] && [ "$at" -lt 20 ] && echo 1 || echo 0) \
    "exit $rc; $stopped"
  ranks_cmd $3
  "${cmd[@]}" --spec "$tmp/$1-$3.json" --run-dir "$dir" --resume > /dev/null 2> "$dir.resume.err"
  rc=$?
  resumed=$(grep '"event":"start"' "$dir/events.jsonl" | tail -n 1)
  whole=$(losses "$tmp/$1-1/events.jsonl" loss progress | cut -d' ' -f$((at + 1))-)
  after=$(grep '"event":"progress"' "$dir/events.jsonl" | tail -n $((20 - at)) | python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["loss"]) for l in sys.stdin))')
  read -r ok detail <<< "$(same "$whole" "$after")"
  check "$1: $3 rank(s) resume the $2 rank(s)' checkpoint to the uninterrupted losses" \
    $([ $rc = 0 ] && [ "$ok" = 1 ] && [ "$(echo "$resumed" | json resumed_ranks)" = $2 ] && echo 1 || echo 0) \
    "exit $rc; from step $at: $detail; resumed_ranks $(echo "$resumed" | json resumed_ranks)"
}

# --- 2 ranks = 1 rank ------------------------------------------------------------------------
pair random random
pair block block
ev="$tmp/random-2/events.jsonl"
check "rank 0 alone writes events: stdout is events.jsonl, one start" \
  $(cmp -s "$tmp/random-2.out" "$ev" && [ "$(grep -c '"event":"start"' "$ev")" = 1 ] && echo 1 || echo 0) \
  "$(wc -l < "$ev") lines; start: $(grep '"event":"start"' "$ev" | head -c 300)"
check "the start event says 2 ranks of 1 thread" \
  $(grep '"event":"start"' "$ev" | grep -q '"threads":1,.*"ranks":2' && echo 1 || echo 0) ""
ranks=$(python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; print(json.loads(f.read(n))["__metadata__"].get("ranks"))' "$tmp/random-2/checkpoints/step-20.state")
check "the training state records its ranks" $([ "$ranks" = 2 ] && echo 1 || echo 0) "ranks $ranks"

# --- streamed images: each rank decodes its rows of the global batch ----------------------------
# A PNG folder (data.cache_mb 0 streams it) with 5 files that are no image, and tar shards with
# 3 such samples: each is replaced by the next sample of the order (folder) or of the batch
# (shards) on whichever rank decodes its row, and rank 0 reports the others' (gathered).
build/make_images export-idx --idx /usr/share/datasets/fashion-mnist --out "$tmp/data/png" \
  --shards "$tmp/data/shards" --per-shard 300 --train 2048 --test 256 > /dev/null
mapfile -t pngs < <(find "$tmp/data/png/train" -name '*.png' | sort)
for i in 100 500 900 1300 1700; do printf 'not an image' > "${pngs[$i]}"; done
python3 - "$tmp/data/shards" <<'PY'
import io, sys, tarfile
for n in (0, 2, 4):
    with tarfile.open("%s/train-%06d.tar" % (sys.argv[1], n), "a") as t:
        for name, data in (("bad%d.png" % n, b"not an image"), ("bad%d.cls" % n, b"3")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
PY
folder="{\"format\": \"imagefolder\", \"path\": \"$tmp/data/png\"}"
shards="{\"format\": \"shards\", \"path\": \"$tmp/data/shards\", \"train\": \"train-*.tar\", \"test\": \"test-*.tar\"}"
for kind in folder shards; do
  pair $kind random "${!kind}"
  n=$(grep -c '"data_error"' "$tmp/$kind-1/events.jsonl")
  check "$kind: streamed on 2 ranks, the same samples fail and are replaced: the same data_error events" \
    $([ "$n" -gt 0 ] && [ "$(same_errors "$tmp/$kind-1/events.jsonl" "$tmp/$kind-2/events.jsonl")" = 1 ] && \
      grep -q '"data_path":"stream".*"ranks":2\|"ranks":2.*"data_path":"stream"' "$tmp/$kind-2/events.jsonl" && echo 1 || echo 0) \
    "$n data_error events on 1 rank, $(grep -c '"data_error"' "$tmp/$kind-2/events.jsonl") on 2"
done
# Too many failures for data.max_error_fraction, on both ranks at once: one training image in
# seven no image (0.001: at step 1); or one test image in eight (0.01), which rank 0's first
# evaluation adds to the count every rank judges (at step 9).
for worse in train test; do
  cp -r "$tmp/data/png" "$tmp/data/worse-$worse"
  mapfile -t files < <(find "$tmp/data/worse-$worse/$worse" -name '*.png' | sort)
  for i in $(seq 0 $([ $worse = train ] && echo 7 || echo 8) $((${#files[@]} - 1))); do printf 'x' > "${files[$i]}"; done
  dataset="{\"format\": \"imagefolder\", \"path\": \"$tmp/data/worse-$worse\"}"
  fraction=$([ $worse = train ] && echo 0.001 || echo 0.01)
  spec "$tmp/worse-$worse-1.json" 1 random 20 "$dataset" $fraction
  spec "$tmp/worse-$worse-2.json" 2 random 20 "$dataset" $fraction
  $train --spec "$tmp/worse-$worse-1.json" --run-dir "$tmp/worse-$worse-1" > /dev/null 2>&1 &
  one=$!
  # (ranks that disagreed would wait for each other: bounded by --rank-timeout)
  "${mpi[@]}" $train --spec "$tmp/worse-$worse-2.json" --run-dir "$tmp/worse-$worse-2" --rank-timeout 30 \
    > "$tmp/worse-$worse-2.out" 2> "$tmp/worse-$worse-2.err"
  rc=$?
  wait $one
  error1=$(grep '"event":"error"' "$tmp/worse-$worse-1/events.jsonl" | json message)
  error2=$(grep '"event":"error"' "$tmp/worse-$worse-2/events.jsonl" | json message)
  check "too many $worse images fail: both ranks fail at 1 rank's step with its error, rank 0 alone saying it (rank 1: that it fails with it), neither aborting; nothing left" \
    $([ $rc != 0 ] && [ -n "$error2" ] && [ "$error1" = "$error2" ] && echo "$error2" | grep -q data.max_error_fraction && \
      cmp -s "$tmp/worse-$worse-2.out" "$tmp/worse-$worse-2/events.jsonl" && ! grep -q MPI_ABORT "$tmp/worse-$worse-2.err" && \
      grep -q "rank 1 ($(hostname)): fails with rank 0" "$tmp/worse-$worse-2.err" && \
      [ "$(left "$tmp/worse-$worse-2")" = 1 ] && echo 1 || echo 0) \
    "exit $rc; $error2"
done

# --- stopping together, resuming on another count ---------------------------------------------
resumed random 2 1
resumed folder 2 1
resumed shards 1 2

# --- a rank that dies, a rank that hangs (side by side) ----------------------------------------
spec "$tmp/long.json" 2 random 100000
started() { for _ in $(seq 500); do grep -q '"event":"progress"' "$1/events.jsonl" 2>/dev/null && return; sleep 0.02; done; }
"${mpi[@]}" $train --spec "$tmp/long.json" --run-dir "$tmp/dead" > /dev/null 2> "$tmp/dead.err" &
dead_pid=$!
"${mpi[@]}" $train --spec "$tmp/long.json" --run-dir "$tmp/hung" --rank-timeout 2 > "$tmp/hung.out" 2> "$tmp/hung.err" &
hung_mpirun=$!
started "$tmp/hung"
hung_pid=$(rank_of 1 "$tmp/hung")
kill -STOP "$hung_pid"
started "$tmp/dead"
kill -9 "$(rank_of 1 "$tmp/dead")"
wait $dead_pid
rc=$?
wait $hung_mpirun
hung_rc=$?
sleep 0.5
check "a rank killed: mpirun ends the job, names the rank, leaves no trainer" \
  $([ $rc -gt 128 ] && grep -q "process rank 1 .*signal 9" "$tmp/dead.err" && [ "$(left "$tmp/dead")" = 1 ] && echo 1 || echo 0) \
  "exit $rc; $(grep -m1 'process rank' "$tmp/dead.err")"
rc=$hung_rc
error=$(grep '"event":"error"' "$tmp/hung/events.jsonl" | json message)
check "a rank hung: the others fail after --rank-timeout, naming it and its host; nothing left" \
  $([ $rc != 0 ] && echo "$error" | grep -q "rank 1 ($(hostname)) never arrived" && [ "$(left "$tmp/hung")" = 1 ] && echo 1 || echo 0) \
  "exit $rc; $error"
kill -9 "$hung_pid" 2>/dev/null

# --- rank 0's evaluation, longer than the rank timeout ------------------------------------------
# The k-NN bank (2,048 images) and 10,000 test images at the end of epoch 1 (step 8) take rank 0
# (embed 64, depth 4) about 5 s, longer than --rank-timeout 2, while rank 1 waits at
# the start of step 9: rank 0's signs of life keep it waiting. Stopped (SIGSTOP) during that
# evaluation, rank 0 sends none: rank 1 fails after the timeout.
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fmbig" 2048 10000
eval_spec() { # eval_spec FILE STEPS
  cat > "$1" <<JSON
{"kind": "pretrain", "dataset": {"format": "idx", "path": "$tmp/data/fmbig"}, "loss": {"type": "l2"},
 "model": {"embed_dim": 64, "depth": 4, "num_heads": 2, "patch_size": 8},
 "train": {"total_steps": $2, "batch_size": 256, "seed": 5, "threads": 1, "ranks": 2},
 "schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 1000, "preview_every_steps": 1000}}
JSON
}
eval_spec "$tmp/eval.json" 10
"${mpi[@]}" $train --spec "$tmp/eval.json" --run-dir "$tmp/eval" --rank-timeout 2 > /dev/null 2> "$tmp/eval.err"
rc=$?
took=$(python3 -c 'import json,sys; ev=[json.loads(l) for l in open(sys.argv[1])]; t=lambda n: [e["t"] for e in ev if e["event"]==n and e.get("step")==8][0]; print("%.2f" % (t("eval") - t("progress")))' "$tmp/eval/events.jsonl" 2>/dev/null)
check "rank 0 evaluates longer than --rank-timeout 2 while rank 1 waits: the job succeeds" \
  $([ $rc = 0 ] && grep -q '"event":"done"' "$tmp/eval/events.jsonl" && python3 -c "import sys; sys.exit(not float(sys.argv[1]) > 2)" "${took:-0}" && echo 1 || echo 0) \
  "exit $rc; the evaluation at step 8 took ${took:-?} s; $(grep -m1 'error' "$tmp/eval.err")"
eval_spec "$tmp/eval-long.json" 100000
"${mpi[@]}" $train --spec "$tmp/eval-long.json" --run-dir "$tmp/eval-stop" --rank-timeout 2 > /dev/null 2> "$tmp/eval-stop.err" &
stop_mpirun=$!
for _ in $(seq 500); do grep -q '"step":8,' "$tmp/eval-stop/events.jsonl" 2>/dev/null && break; sleep 0.02; done
rank0=$(rank_of 0 "$tmp/eval-stop")
kill -STOP $rank0
wait $stop_mpirun
rc=$?
sleep 0.5
check "rank 0 stopped during its evaluation: rank 1 fails after --rank-timeout, saying so; nothing left" \
  $([ $rc != 0 ] && grep -q "rank 0 ($(hostname)) stopped" "$tmp/eval-stop.err" && [ "$(left "$tmp/eval-stop")" = 1 ] && echo 1 || echo 0) \
  "exit $rc; $(grep -m1 'not complete' "$tmp/eval-stop.err")"
kill -9 $rank0 2>/dev/null

# --- the build without MPI ------------------------------------------------------------------
nompi=build/nompi/simmim-train
caps=$($nompi --capabilities)
$nompi --spec "$tmp/random-2.json" --run-dir "$tmp/nompi" > /dev/null 2> "$tmp/nompi.err"
rc=$?
check "MPI=0: no MPI in --capabilities; train.ranks 2 refused, saying it was built without MPI" \
  $([ "$caps" = '{"mpi": null}' ] && [ $rc = 1 ] && grep -q "built without MPI" "$tmp/nompi.err" && echo 1 || echo 0) \
  "$caps; exit $rc; $(tail -n 1 "$tmp/nompi.err")"
"${mpi[@]}" $nompi --spec "$tmp/random-1.json" --run-dir "$tmp/nompi2" > /dev/null 2> "$tmp/nompi2.err"
rc=$?
check "MPI=0 under mpirun: each process refuses to be one of 2" \
  $([ $rc != 0 ] && [ "$(grep -c 'cannot be one of the 2 processes' "$tmp/nompi2.err")" = 2 ] && echo 1 || echo 0) \
  "exit $rc; $(grep -m1 'error' "$tmp/nompi2.err")"

# --- through the daemon ---------------------------------------------------------------------
# Long enough (64 steps) that the pause, sent at step 2, lands before the end on a quiet machine
# (16 steps finished first there).
job_spec='{"dataset": "fm", '"$tiny"', "train": {"total_steps": 64, "batch_size": 256, "threads": 1, "ranks": 2},
 "eval": {"knn": {"enabled": false}}, "schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 10}}'
id=$(api POST /api/v1/jobs "$job_spec" | json id)
code=$(status)
wait_state "$id" running 20
for _ in $(seq 300); do [ "$(api GET "/api/v1/jobs/$id" | json progress.step)" -ge 2 ] 2>/dev/null && break; sleep 0.05; done
api POST "/api/v1/jobs/$id/pause" > /dev/null
wait_state "$id" paused 30
paused=$?
at=$(api GET "/api/v1/jobs/$id" | json progress.step)
api POST "/api/v1/jobs/$id/resume" > /dev/null
wait_state "$id" succeeded 180
done_rc=$?
log="$state/runs/$id/train.log"
check "a 2-rank job through the daemon: runs under mpirun, pauses, resumes, succeeds" \
  $([ "$code" = 201 ] && [ $paused = 0 ] && [ $done_rc = 0 ] && [ "$(grep -c '"ranks":2' "$state/runs/$id/events.jsonl")" -ge 2 ] && echo 1 || echo 0) \
  "submit $code; paused at step $at ($paused); $(api GET "/api/v1/jobs/$id" | json state); $(grep -c '"event":"start"' "$state/runs/$id/events.jsonl") starts"
api POST /api/v1/jobs '{"dataset": "fm", "train": {"batch_size": 100, "ranks": 3}}' > /dev/null
check "a batch the ranks do not divide: 400 naming train.batch_size" \
  $([ "$(status)" = 400 ] && [ "$(json error.field < "$tmp/body")" = train.batch_size ] && echo 1 || echo 0) "$(cat "$tmp/body")"
kill -TERM "$daemon_pid" && wait "$daemon_pid"
start_daemon --data-root "$tmp/data" --train-binary "$PWD/$nompi"
api POST /api/v1/jobs '{"dataset": "fm", "train": {"ranks": 2}}' > /dev/null
check "a daemon whose simmim-train lacks MPI refuses train.ranks 2, naming it" \
  $([ "$(status)" = 400 ] && [ "$(json error.field < "$tmp/body")" = train.ranks ] && grep -q "without MPI" "$tmp/body" && echo 1 || echo 0) \
  "$(cat "$tmp/body")"
kill -TERM "$daemon_pid" && wait "$daemon_pid"
start_daemon --data-root "$tmp/data" # no hostfile, no --oversubscribe: mpirun's slots are the cores
over=$(($(nproc) + 1))
api POST /api/v1/jobs "{\"dataset\": \"fm\", \"train\": {\"batch_size\": $((over * 64)), \"ranks\": $over}}" > /dev/null
check "more ranks than this host's cores, no hostfile, no --oversubscribe in mpi-args: 400 naming train.ranks" \
  $([ "$(status)" = 400 ] && [ "$(json error.field < "$tmp/body")" = train.ranks ] && grep -q "oversubscribe" "$tmp/body" && echo 1 || echo 0) \
  "$(cat "$tmp/body")"
[ $failures = 0 ]
