#!/usr/bin/env bash
# The representation probes end to end (issue 27.3; docs/job-spec.md, eval.knn and linprobe):
# simmim-train's knn_top1 at each evaluation equals NumPy's k-NN on the features it dumps
# (--dump-features); a linear probe from its checkpoint reaches the top-1 of PyTorch's L-BFGS on
# its dumped features within 0.2 points, and the same bits on 1 and 2 threads; through the
# daemon a pretraining's knn_top1 reaches the metrics API and the job, a linear probe is
# accepted (init_from a pretraining job), listed by its kind, and finishes with a top1, and the
# probes' bad input is refused naming the field. Prints "ok - ..." / "not ok - ..." lines.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/daemon_client.sh
daemon_session
train=build/simmim-train
reference=tests/golden/probe_reference.py
torch_py=/usr/bin/python3

mkdir -p "$tmp/data" "$tmp/dump" "$tmp/dump1"
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" 1000 300
data="{\"format\": \"idx\", \"path\": \"$tmp/data/fm\"}"
small='"model": {"embed_dim": 64, "depth": 2, "num_heads": 2}'
schedule='"schedule": {"progress_every_steps": 5, "checkpoint_every_steps": 20, "preview_every_steps": 20}'

# --- the k-NN probe against NumPy ----------------------------------------------------------
cat > "$tmp/pre.json" <<JSON
{"kind": "pretrain", "dataset": $data, $small, "train": {"epochs": 2, "batch_size": 100, "seed": 1, "threads": 2},
 "eval": {"knn": {"bank": 400, "k": 10}}, $schedule}
JSON
$train --spec "$tmp/pre.json" --run-dir "$tmp/pre" --dump-features "$tmp/dump" > /dev/null 2> "$tmp/pre.err"
rc=$?
evals=$(grep -c '"event":"eval".*"knn_top1"' "$tmp/pre/events.jsonl" 2>/dev/null)
report "pretraining: every eval event carries knn_top1" $([ $rc = 0 ] && [ "$evals" = 2 ] && echo 1 || echo 0) \
  "exit $rc, $evals evals; $(tail -n 1 "$tmp/pre.err")"
for step in 10 20; do
  mine=$(grep "\"event\":\"eval\",.*\"step\":$step," "$tmp/pre/events.jsonl" | json knn_top1)
  read -r numpy fragile _ < <($torch_py $reference knn "$tmp/dump/knn-step-$step.safetensors" 2>&1)
  # the same count of the 300 test images right (100·right/300 is rounded differently)
  report "knn_top1 at step $step equals NumPy's k-NN on the dumped features" \
    $(python3 -c "import sys; sys.exit(not round(float(sys.argv[1]) * 3) == round(float(sys.argv[2]) * 3))" "$mine" "$numpy" 2>/dev/null && echo 1 || echo 0) \
    "simmim-train $mine, NumPy $numpy ($fragile of 300 queries within float32 rounding of a tie)"
done

# --- the linear probe against PyTorch's L-BFGS, and on 1 and 2 threads ----------------------
linprobe() { # linprobe NAME THREADS DUMP_DIR
  cat > "$tmp/$1.json" <<JSON
{"kind": "linprobe", "dataset": $data, "train": {"batch_size": 100, "threads": $2},
 "linprobe": {"init_from": {"path": "$tmp/pre/checkpoints/step-20.safetensors"}, "weight_decay": 1e-3, "max_iterations": 500},
 "schedule": {"progress_every_steps": 50}}
JSON
  $train --spec "$tmp/$1.json" --run-dir "$tmp/$1" --dump-features "$3" > "$tmp/$1.out" 2> "$tmp/$1.err"
}
linprobe lp2 2 "$tmp/dump"
rc=$?
done_line=$(grep '"event":"done"' "$tmp/lp2.out")
top1=$(echo "$done_line" | json top1)
report "linprobe: done with a top1, no checkpoint" \
  $([ $rc = 0 ] && [ -n "$top1" ] && [ -z "$(ls "$tmp/lp2/checkpoints")" ] && echo 1 || echo 0) \
  "exit $rc, top1 $top1; $(tail -n 1 "$tmp/lp2.err")"
read -r ref_top1 _ < <($torch_py $reference linprobe "$tmp/dump/linprobe.safetensors" 1e-3 2>&1)
report "linprobe: top-1 within 0.2 points of PyTorch's L-BFGS on the same features" \
  $(python3 -c "import sys; sys.exit(not abs(float(sys.argv[1]) - float(sys.argv[2])) <= 0.2)" "$top1" "$ref_top1" 2>/dev/null && echo 1 || echo 0) \
  "simmim-train $top1, reference $ref_top1"
linprobe lp1 1 "$tmp/dump1"
strip_t() { grep -v '"event":"start"' "$1" | sed -e 's/"t":[0-9.e+]*,//' -e 's/"eta_s":[0-9.e+-]*//'; }
report "linprobe: the same events and features on 1 and 2 threads" \
  $(cmp -s <(strip_t "$tmp/lp1.out") <(strip_t "$tmp/lp2.out") && cmp -s "$tmp/dump/linprobe.safetensors" "$tmp/dump1/linprobe.safetensors" && echo 1 || echo 0) \
  "$(grep '"event":"done"' "$tmp/lp1.out") | $done_line"

# --- through the daemon ----------------------------------------------------------------------
start_daemon --data-root "$tmp/data"
api POST /api/v1/datasets "{\"name\": \"fm-small\", \"format\": \"idx\", \"path\": \"$tmp/data/fm\"}" > /dev/null
pre_id=$(api POST /api/v1/jobs "{\"dataset\": \"fm-small\", $small, \"train\": {\"total_steps\": 10, \"batch_size\": 100, \"threads\": 2},
  \"eval\": {\"knn\": {\"bank\": 300}}, $schedule}" | json id)
wait_state "$pre_id" succeeded 180
knn=$(api GET "/api/v1/jobs/$pre_id/metrics" | python3 -c 'import json,sys; print([m["knn_top1"] for m in json.load(sys.stdin)["metrics"] if "knn_top1" in m])')
latest=$(api GET "/api/v1/jobs/$pre_id" | json metrics.knn_top1)
report "daemon: a pretraining's knn_top1 in its metrics and the job's latest" \
  $([ "$knn" != "[]" ] && [ -n "$latest" ] && [[ "$knn" == *"$latest"* ]] && echo 1 || echo 0) "series $knn, latest $latest"
lp=$(api POST /api/v1/jobs "{\"kind\": \"linprobe\", \"dataset\": \"fm-small\", \"train\": {\"threads\": 2},
  \"linprobe\": {\"init_from\": $pre_id, \"labels_per_class\": 50, \"max_iterations\": 200}}")
lp_id=$(echo "$lp" | json id)
report "daemon: a linear probe accepted (init_from a pretraining job)" \
  $([ "$(status)" = 201 ] && [ "$(echo "$lp" | json kind)" = linprobe ] && [ -n "$(echo "$lp" | json init_checkpoint_id)" ] && echo 1 || echo 0) \
  "$(status) $(echo "$lp" | head -c 200)"
wait_state "$lp_id" succeeded 180
job=$(api GET "/api/v1/jobs/$lp_id")
report "daemon: the linear probe succeeds with a top1 and no checkpoint" \
  $([ "$(echo "$job" | json state)" = succeeded ] && [ -n "$(echo "$job" | json metrics.top1)" ] &&
    [ "$(api GET "/api/v1/jobs/$lp_id/checkpoints" | json checkpoints)" = "[]" ] && echo 1 || echo 0) \
  "$(echo "$job" | json state) top1 $(echo "$job" | json metrics.top1) $(echo "$job" | json error)"
listed=$(api GET "/api/v1/jobs?kind=linprobe" | python3 -c 'import json,sys; print([j["id"] for j in json.load(sys.stdin)["jobs"]])')
report "daemon: the jobs list filters by kind linprobe" $([ "$listed" = "[$lp_id]" ] && echo 1 || echo 0) "$listed"

bad() { # bad NAME STATUS FIELD BODY
  api POST /api/v1/jobs "$4" > /dev/null
  local field
  field=$(json error.field < "$tmp/body")
  report "daemon refuses $1" $([ "$(status)" = "$2" ] && [ "$field" = "$3" ] && echo 1 || echo 0) "$(status) $(cat "$tmp/body")"
}
bad "a linear probe from a linear probe" 409 linprobe.init_from "{\"kind\": \"linprobe\", \"dataset\": \"fm-small\", \"linprobe\": {\"init_from\": $lp_id}}"
bad "finetune.init_from in a linear probe" 400 finetune.init_from '{"kind": "linprobe", "dataset": "fm-small", "finetune": {"init_from": 1}}'
bad "eval.knn.k above eval.knn.bank" 400 eval.knn.k '{"dataset": "fm-small", "eval": {"knn": {"bank": 10, "k": 20}}}'
bad "linprobe.labels_per_class beyond the batch" 400 train.batch_size '{"kind": "linprobe", "dataset": "fm-small", "linprobe": {"labels_per_class": 2}}'
api GET "/api/v1/jobs?kind=probe" > /dev/null
report "daemon: the jobs list refuses an unknown kind" $([ "$(status)" = 400 ] && echo 1 || echo 0) "$(status) $(cat "$tmp/body")"
