#!/usr/bin/env bash
# Streamed image folders through simmim-train (issue 26; docs/job-spec.md, data): a folder
# larger than data.cache_mb (here 0) streams and says so in its start event, a small one is
# cached; the batches do not depend on data.workers (the same checkpoint bytes on 1 and 3);
# kill -9 and --resume end bit-identical to an uninterrupted run; a file that fails to decode
# is replaced with a data_error event naming it, and too many fail the job with a clear
# error; a few-label fine-tuning runs from a streamed folder.
# Prints "ok - ..." / "not ok - ..." lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
train=build/simmim-train
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/integration/daemon_client.sh

build/make_images export-idx --idx /usr/share/datasets/fashion-mnist --out "$tmp/fm" --train 1000 --test 200 > /dev/null
small_model='"model": {"embed_dim": 64, "depth": 2, "num_heads": 2}'
spec() { # spec FILE FOLDER CACHE_MB WORKERS [EXTRA]: a 20-step pretraining
  cat > "$1" <<JSON
{"kind": "pretrain", "dataset": {"format": "imagefolder", "path": "$2"}, $small_model,
 "data": {"cache_mb": $3, "workers": $4}, ${5:+$5,}
 "train": {"epochs": 1, "batch_size": 50, "seed": 5, "threads": 2},
 "schedule": {"progress_every_steps": 5, "checkpoint_every_steps": 5, "preview_every_steps": 20}}
JSON
}
start_field() { grep '"event":"start"' "$1/events.jsonl" | head -n 1 | json "$2"; }
sha() { sha256sum "$1" 2>/dev/null | cut -c1-64; }

# --- the path and why; the same batches on 1 and 3 workers ---------------------------------
for w in 1 3; do
  spec "$tmp/w$w.json" "$tmp/fm" 0 $w
  $train --spec "$tmp/w$w.json" --run-dir "$tmp/w$w" > /dev/null 2> "$tmp/w$w.err"
done
report "a folder with data.cache_mb 0 streams, and the start event says why" \
  $([ "$(start_field "$tmp/w1" data_path)" = stream ] && [ "$(start_field "$tmp/w1" data_path_reason)" = "data.cache_mb is 0" ] && echo 1 || echo 0) \
  "$(start_field "$tmp/w1" data_path): $(start_field "$tmp/w1" data_path_reason); $(tail -n 1 "$tmp/w1.err")"
a=$(sha "$tmp/w1/checkpoints/step-20.safetensors") b=$(sha "$tmp/w3/checkpoints/step-20.safetensors")
report "streamed batches are the same on 1 and 3 decode workers" \
  $([ -n "$a" ] && [ "$a" = "$b" ] && echo 1 || echo 0) "step-20 weights ${a:0:16} vs ${b:0:16}"
spec "$tmp/cached.json" "$tmp/fm" null 2
$train --spec "$tmp/cached.json" --run-dir "$tmp/cached" > /dev/null 2>&1
report "a folder whose cache fits data.cache_mb is cached, and the start event says why" \
  $([ "$(start_field "$tmp/cached" data_path)" = cache ] && [[ "$(start_field "$tmp/cached" data_path_reason)" == *"fits data.cache_mb"* ]] && echo 1 || echo 0) \
  "$(start_field "$tmp/cached" data_path): $(start_field "$tmp/cached" data_path_reason)"

# --- kill -9 and --resume -------------------------------------------------------------------
spec "$tmp/killed.json" "$tmp/fm" 0 2
$train --spec "$tmp/killed.json" --run-dir "$tmp/killed" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ -e "$tmp/killed/checkpoints/step-10.safetensors" ] && break; sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
$train --spec "$tmp/killed.json" --run-dir "$tmp/killed" --resume > /dev/null 2> "$tmp/resumed.err"
rc=$?
c=$(sha "$tmp/killed/checkpoints/step-20.safetensors")
report "kill -9 and --resume of a streamed run end bit-identical to an uninterrupted one" \
  $([ $rc = 0 ] && [ "$c" = "$a" ] && echo 1 || echo 0) \
  "exit $rc, resumed from step $(grep '"event":"start"' "$tmp/killed/events.jsonl" | tail -n 1 | json resumed_from_step); ${c:0:16} vs ${a:0:16}"

# --- files that fail to decode ----------------------------------------------------------------
cp -r "$tmp/fm" "$tmp/bad"
mapfile -t files < <(find "$tmp/bad/train" -name '*.png' | sort)
head -c 40 "${files[100]}" > "$tmp/cut" && mv "$tmp/cut" "${files[100]}"
printf 'not an image' > "${files[500]}"
spec "$tmp/bad.json" "$tmp/bad" 0 2
$train --spec "$tmp/bad.json" --run-dir "$tmp/bad-run" > /dev/null 2> "$tmp/bad.err"
rc=$?
errors=$(grep -c '"event":"data_error"' "$tmp/bad-run/events.jsonl")
last_count=$(grep '"event":"progress"' "$tmp/bad-run/events.jsonl" | tail -n 1 | json data_errors)
report "two files that fail to decode are replaced, each named by a data_error event" \
  $([ $rc = 0 ] && [ "$errors" = 2 ] && [ "$last_count" = 2 ] && grep '"event":"data_error"' "$tmp/bad-run/events.jsonl" | grep -q "${files[100]##*/}" && echo 1 || echo 0) \
  "exit $rc, $errors data_error events, progress data_errors $last_count: $(grep -m1 '"event":"data_error"' "$tmp/bad-run/events.jsonl" | json message)"
for i in $(seq 0 7 999); do [ -n "${files[$i]:-}" ] && printf 'x' > "${files[$i]}"; done
$train --spec "$tmp/bad.json" --run-dir "$tmp/worse-run" > /dev/null 2> "$tmp/worse.err"
rc=$?
report "a folder where one image in seven fails ends the job naming data.max_error_fraction" \
  $([ $rc != 0 ] && grep -q "data.max_error_fraction" "$tmp/worse.err" && echo 1 || echo 0) \
  "exit $rc: $(tail -n 1 "$tmp/worse.err")"

# --- a few-label fine-tuning from a streamed folder -------------------------------------------
cat > "$tmp/ft.json" <<JSON
{"kind": "finetune", "dataset": {"format": "imagefolder", "path": "$tmp/fm"}, "data": {"cache_mb": 0},
 "finetune": {"init_from": {"path": "$tmp/w1/checkpoints/step-20.safetensors"}, "labels_per_class": 10},
 "train": {"epochs": 2, "batch_size": 20, "seed": 5, "threads": 2},
 "schedule": {"progress_every_steps": 5, "checkpoint_every_steps": 100}}
JSON
$train --spec "$tmp/ft.json" --run-dir "$tmp/ft" > /dev/null 2> "$tmp/ft.err"
rc=$?
report "a fine-tuning with 10 labels per class runs from a streamed folder" \
  $([ $rc = 0 ] && [ "$(start_field "$tmp/ft" steps_per_epoch)" = 5 ] && [ "$(start_field "$tmp/ft" data_path)" = stream ] && echo 1 || echo 0) \
  "exit $rc, $(start_field "$tmp/ft" steps_per_epoch) steps per epoch (100 images / 20); $(tail -n 1 "$tmp/ft.err")"
