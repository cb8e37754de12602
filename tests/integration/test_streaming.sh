#!/usr/bin/env bash
# Streamed image folders through simmim-train (issue 26; docs/job-spec.md, data): a folder
# larger than data.cache_mb (here 0) streams and says so in its start event, a small one is
# cached; the batches do not depend on data.workers (the same checkpoint bytes on 1 and 3);
# kill -9 and --resume end bit-identical to an uninterrupted run; a file that fails to decode
# is replaced with a data_error event naming it, and too many fail the job with a clear
# error; a few-label fine-tuning runs from a streamed folder. Tar shards (a held-out 2% or a
# test glob) stream with the same guarantees: workers, kill -9, bad samples; a palette loss
# takes its colours from their first samples; a few-label fine-tuning keeps the first K of each
# class in shard order (and a class short of K is a clear error). An IDX dataset
# larger than data.cache_mb is read in place from its uncompressed files (the same training
# as the cache's), or cached as before with a warning naming gunzip when a file is compressed.
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
# Each is met once as a training image and once more in the k-NN probe's bank (all 1,000
# training images here; docs/job-spec.md, eval.knn), which reports its failures once.
report "two files that fail to decode are replaced, each named by a data_error event" \
  $([ $rc = 0 ] && [ "$errors" = 4 ] && [ "$last_count" = 2 ] && grep '"event":"data_error"' "$tmp/bad-run/events.jsonl" | grep -q "${files[100]##*/}" && echo 1 || echo 0) \
  "exit $rc, $errors data_error events, progress data_errors $last_count: $(grep -m1 '"event":"data_error"' "$tmp/bad-run/events.jsonl" | json message)"
for i in $(seq 0 7 999); do [ -n "${files[$i]:-}" ] && printf 'x' > "${files[$i]}"; done
$train --spec "$tmp/bad.json" --run-dir "$tmp/worse-run" > /dev/null 2> "$tmp/worse.err"
rc=$?
report "a folder where one image in seven fails ends the job naming data.max_error_fraction" \
  $([ $rc != 0 ] && grep -q "data.max_error_fraction" "$tmp/worse.err" && echo 1 || echo 0) \
  "exit $rc: $(tail -n 1 "$tmp/worse.err")"

# --- IDX larger than data.cache_mb: read in place --------------------------------------------
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/idx-gz" 500 100
mkdir -p "$tmp/idx" && cp "$tmp/idx-gz"/* "$tmp/idx/" && gunzip "$tmp/idx"/*.gz
idx_spec() { # idx_spec FILE DIR CACHE_MB: a 10-step pretraining
  cat > "$1" <<JSON
{"kind": "pretrain", "dataset": {"format": "idx", "path": "$2"}, $small_model,
 "data": {"cache_mb": $3}, "train": {"epochs": 1, "batch_size": 50, "seed": 5, "threads": 2},
 "schedule": {"progress_every_steps": 5, "checkpoint_every_steps": 10, "preview_every_steps": 20}}
JSON
}
idx_spec "$tmp/idx0.json" "$tmp/idx" 0
idx_spec "$tmp/idxc.json" "$tmp/idx" null
$train --spec "$tmp/idx0.json" --run-dir "$tmp/idx0" > /dev/null 2> "$tmp/idx0.err"
rc=$?
$train --spec "$tmp/idxc.json" --run-dir "$tmp/idxc" > /dev/null 2>&1
a=$(sha "$tmp/idx0/checkpoints/step-10.safetensors") b=$(sha "$tmp/idxc/checkpoints/step-10.safetensors")
report "IDX with data.cache_mb 0 is read in place, says so, and trains as the cached run does" \
  $([ $rc = 0 ] && [ "$(start_field "$tmp/idx0" data_path)" = stream ] && [[ "$(start_field "$tmp/idx0" data_path_reason)" == *"read in place"* ]] && [ "$(start_field "$tmp/idxc" data_path)" = cache ] && [ -n "$a" ] && [ "$a" = "$b" ] && echo 1 || echo 0) \
  "exit $rc, $(start_field "$tmp/idx0" data_path): $(start_field "$tmp/idx0" data_path_reason); step-10 weights ${a:0:16} vs ${b:0:16}; $(tail -n 1 "$tmp/idx0.err")"
idx_spec "$tmp/idxgz.json" "$tmp/idx-gz" 0
$train --spec "$tmp/idxgz.json" --run-dir "$tmp/idxgz" > /dev/null 2> "$tmp/idxgz.err"
rc=$?
report "IDX over data.cache_mb with a gzip-compressed file is cached as before, with a warning naming gunzip" \
  $([ $rc = 0 ] && [ "$(start_field "$tmp/idxgz" data_path)" = cache ] && grep '"event":"warning"' "$tmp/idxgz/events.jsonl" | grep -q "gunzip" && echo 1 || echo 0) \
  "exit $rc, $(start_field "$tmp/idxgz" data_path): $(grep -m1 '"event":"warning"' "$tmp/idxgz/events.jsonl" | json message)"

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

# --- tar shards ---------------------------------------------------------------------------
build/make_images export-idx --idx /usr/share/datasets/fashion-mnist --shards "$tmp/shards" --per-shard 125 --train 500 --test 100 > /dev/null
shard_spec() { # shard_spec FILE WORKERS TEST_GLOB_JSON [EXTRA]: 40 steps over 2 epochs of 500 images
  cat > "$1" <<JSON
{"kind": "pretrain", "dataset": {"format": "shards", "path": "$tmp/shards", "train": "train-*.tar", "test": $3},
 $small_model, "data": {"workers": $2, "shuffle_buffer": 100}, ${4:+$4,}
 "train": {"epochs": 2, "batch_size": 25, "seed": 5, "threads": 2},
 "schedule": {"progress_every_steps": 10, "checkpoint_every_steps": 10, "preview_every_steps": 40}}
JSON
}
for w in 1 3; do
  shard_spec "$tmp/sw$w.json" $w '"test-*.tar"'
  $train --spec "$tmp/sw$w.json" --run-dir "$tmp/sw$w" > /dev/null 2> "$tmp/sw$w.err"
done
a=$(sha "$tmp/sw1/checkpoints/step-40.safetensors") b=$(sha "$tmp/sw3/checkpoints/step-40.safetensors")
report "tar shards stream, and their batches are the same on 1 and 3 decode workers" \
  $([ -n "$a" ] && [ "$a" = "$b" ] && [ "$(start_field "$tmp/sw1" data_path)" = stream ] && echo 1 || echo 0) \
  "step-40 weights ${a:0:16} vs ${b:0:16}; $(start_field "$tmp/sw1" data_path_reason); $(tail -n 1 "$tmp/sw1.err")"
for w in 1 3; do
  shard_spec "$tmp/sp$w.json" $w '"test-*.tar"' '"loss": {"type": "palette", "palette": 8}'
  $train --spec "$tmp/sp$w.json" --run-dir "$tmp/sp$w" > /dev/null 2> "$tmp/sp$w.err"
done
a2=$(sha "$tmp/sp1/checkpoints/step-40.safetensors") b2=$(sha "$tmp/sp3/checkpoints/step-40.safetensors")
report "a palette loss on tar shards: its colours from the first samples, the same on 1 and 3 decode workers" \
  $([ -n "$a2" ] && [ "$a2" = "$b2" ] && echo 1 || echo 0) "step-40 weights ${a2:0:16} vs ${b2:0:16}; $(tail -n 1 "$tmp/sp1.err")"
shard_spec "$tmp/skill.json" 2 '"test-*.tar"'
$train --spec "$tmp/skill.json" --run-dir "$tmp/skill" > /dev/null 2>&1 &
pid=$!
for _ in $(seq 600); do [ -e "$tmp/skill/checkpoints/step-20.safetensors" ] && break; sleep 0.05; done
kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
$train --spec "$tmp/skill.json" --run-dir "$tmp/skill" --resume > /dev/null 2>&1
rc=$?
c=$(sha "$tmp/skill/checkpoints/step-40.safetensors")
report "kill -9 and --resume of a run on shards end bit-identical (the stream replayed to the step)" \
  $([ $rc = 0 ] && [ "$c" = "$a" ] && echo 1 || echo 0) \
  "exit $rc, resumed from step $(grep '"event":"start"' "$tmp/skill/events.jsonl" | tail -n 1 | json resumed_from_step); ${c:0:16} vs ${a:0:16}"
python3 - "$tmp/shards/train-000009.tar" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as t:
    for name, data in [("bad1.png", b"not an image"), ("bad2.png", b"x"), ("bad2.cls", b"seven")]:
        info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))
PY
shard_spec "$tmp/sbad.json" 2 null
$train --spec "$tmp/sbad.json" --run-dir "$tmp/sbad" > /dev/null 2> "$tmp/sbad.err"
rc=$?
messages=$(grep '"event":"data_error"' "$tmp/sbad/events.jsonl" | while read -r line; do echo "$line" | json message; done | sort -u | head -n 3 | tr '\n' '|')
report "a shard's undecodable image and bad .cls are data_error events; the held-out 2% stands in for a test split" \
  $([ $rc = 0 ] && [[ "$messages" == *bad1* ]] && [[ "$messages" == *bad2* ]] && echo 1 || echo 0) \
  "exit $rc; $messages $(tail -n 1 "$tmp/sbad.err")"

# --- a few-label fine-tuning from tar shards --------------------------------------------------
# Two classes in two shards, interleaved; in shard order the first 10 of each class are images
# and every later one is not: kept are the first 10 per class in shard order, so labels_per_class
# 10 trains without a data_error, and 11 meets the bad ones.
mkdir -p "$tmp/few"
python3 - "$tmp/shards/train-000000.tar" "$tmp/few" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1]) as t:
    pngs = [t.extractfile(m).read() for m in t.getmembers() if m.name.endswith(".png")][:40]
def write(path, samples):
    with tarfile.open(path, "w") as t:
        for key, data, label in samples:
            for name, body in ((key + ".png", data), (key + ".cls", str(label).encode())):
                info = tarfile.TarInfo(name); info.size = len(body); t.addfile(info, io.BytesIO(body))
seen = [0, 0]
def sample(i):
    label = i % 2
    seen[label] += 1
    return f"s{i:03d}", pngs[i % 20] if seen[label] <= 10 else b"not an image", label
write(sys.argv[2] + "/train-0.tar", [sample(i) for i in range(0, 16)])
write(sys.argv[2] + "/train-1.tar", [sample(i) for i in range(16, 40)])
write(sys.argv[2] + "/test-0.tar", [(f"t{i:03d}", pngs[20 + i], i % 2) for i in range(20)])
PY
few_spec() { # few_spec FILE LABELS_PER_CLASS
  cat > "$1" <<JSON
{"kind": "finetune", "dataset": {"format": "shards", "path": "$tmp/few", "train": "train-*.tar", "test": "test-*.tar"},
 "finetune": {"init_from": {"path": "$tmp/w1/checkpoints/step-20.safetensors"}, "labels_per_class": $2},
 "data": {"workers": 2, "shuffle_buffer": 8},
 "train": {"epochs": 2, "batch_size": 10, "seed": 5, "threads": 2},
 "schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 100}}
JSON
}
few_spec "$tmp/few10.json" 10
$train --spec "$tmp/few10.json" --run-dir "$tmp/few10" > /dev/null 2> "$tmp/few10.err"
rc=$?
errors=$(grep -c '"event":"data_error"' "$tmp/few10/events.jsonl")
report "a fine-tuning with 10 labels per class runs from tar shards on the first 10 of each class in shard order" \
  $([ $rc = 0 ] && [ "$(start_field "$tmp/few10" steps_per_epoch)" = 2 ] && [ "$errors" = 0 ] && echo 1 || echo 0) \
  "exit $rc, $(start_field "$tmp/few10" steps_per_epoch) steps per epoch (20 images / 10), $errors data errors; $(tail -n 1 "$tmp/few10.err")"
few_spec "$tmp/few11.json" 11
$train --spec "$tmp/few11.json" --run-dir "$tmp/few11" > /dev/null 2> "$tmp/few11.err"
errors=$(grep -c '"event":"data_error"' "$tmp/few11/events.jsonl")
report "with 11 per class the 11th of each class, not an image, is read" $([ "$errors" -gt 0 ] && echo 1 || echo 0) \
  "$errors data errors; $(tail -n 1 "$tmp/few11.err")"
few_spec "$tmp/few30.json" 30
$train --spec "$tmp/few30.json" --run-dir "$tmp/few30" > /dev/null 2> "$tmp/few30.err"
rc=$?
report "more labels per class than the shards have: a clear error" \
  $([ $rc != 0 ] && grep -q "finetune.labels_per_class: class '0' has 20 training images, fewer than the 30 asked for" "$tmp/few30.err" && echo 1 || echo 0) \
  "exit $rc: $(tail -n 1 "$tmp/few30.err")"
