#!/usr/bin/env bash
# simmim-train end to end on a real Fashion-MNIST subset (2,000 training and 500 test
# images): pretraining lowers the loss and writes contract-conforming checkpoints, previews
# and events; SIGTERM + --resume ends bit-identical to an uninterrupted run; fine-tuning
# from the checkpoint beats chance and reports the top-1 an independent evaluation finds;
# bad input ends with one error line naming the problem, a non-zero exit and no checkpoint.
# Prints "ok - ..." / "not ok - ..." lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
train=build/simmim-train
evaluate=build/simmim-eval
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

report() { # report NAME OK DETAIL
  if [ "$2" = 1 ]; then echo "ok - $1: $3"; else echo "not ok - $1: $3"; fi
}
last_event() { # last_event FILE NAME → that event's last line
  grep "\"event\":\"$2\"" "$1" | tail -n 1
}
field() { # field JSON KEY
  python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2"
}

python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/fm" 2000 500
data="{\"format\": \"idx\", \"path\": \"$tmp/fm\"}"
small_model='"model": {"embed_dim": 64, "depth": 2, "num_heads": 2}'

# --- pretraining ------------------------------------------------------------------------
cat > "$tmp/pretrain.json" <<JSON
{"kind": "pretrain", "dataset": $data, $small_model,
 "train": {"epochs": 4, "batch_size": 50, "seed": 1, "threads": 2},
 "schedule": {"progress_every_steps": 10, "checkpoint_every_steps": 40,
              "preview_every_steps": 40, "keep_checkpoints": 2}}
JSON
$train --spec "$tmp/pretrain.json" --run-dir "$tmp/pre" > "$tmp/pre.out" 2> "$tmp/pre.err"
rc=$?
report "pretraining run exits 0" $([ $rc = 0 ] && echo 1 || echo 0) "exit $rc; $(tail -n 1 "$tmp/pre.err")"
ev="$tmp/pre/events.jsonl"
first_loss=$(field "$(grep '"event":"progress"' "$ev" | head -n 1)" loss)
last_loss=$(field "$(last_event "$ev" progress)" loss)
report "pretraining lowers the loss" \
  $(python3 -c "print(int($last_loss < 0.8 * $first_loss))") "first progress $first_loss, last $last_loss"
val1=$(field "$(grep '"event":"eval"' "$ev" | head -n 1)" val_loss)
val4=$(field "$(last_event "$ev" eval)" val_loss)
report "validation loss falls over the epochs" $(python3 -c "print(int($val4 < $val1))") "epoch 1 $val1, epoch 4 $val4"
report "stdout and events.jsonl carry the same events" $(cmp -s "$tmp/pre.out" "$ev" && echo 1 || echo 0) \
  "$(wc -l < "$ev") lines"
report "every event kind of a pretraining run appears" \
  $(for e in start progress eval checkpoint checkpoint_deleted preview done; do grep -q "\"event\":\"$e\"" "$ev" || echo missing; done | grep -q missing && echo 0 || echo 1) \
  "start progress eval checkpoint checkpoint_deleted preview done"
# The rate of an interval with an evaluation, preview or checkpoint in it is the training's:
# the events' own times give the interval and the work done aside after its first progress
# event (until the last evaluation, preview or checkpoint of that step), which the rate leaves
# out.
rates=$(python3 - "$ev" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1])]
progress = [e for e in events if e["event"] == "progress"]
out, bad = [], 0
for a, b in zip(progress, progress[1:]):
    aside_end = max((e["t"] for e in events if e["event"] in ("eval", "preview", "checkpoint")
                     and e["step"] == a["step"] and a["t"] <= e["t"] <= b["t"]), default=None)
    if aside_end is None:
        continue
    aside = aside_end - a["t"]
    wall = b["t"] - a["t"]
    want = (b["step"] - a["step"]) * 50 / (wall - aside)
    bad += abs(b["img_per_s"] - want) > 0.05 * want
    out.append(f"step {b['step']}: {b['img_per_s']:.0f} img/s, {aside:.2f} s aside ({(b['step'] - a['step']) * 50 / wall:.0f} with it)")
print(int(bad == 0 and len(out) == 3), "; ".join(out))
PY
)
report "the rate of an interval with an evaluation leaves the evaluation out" "${rates%% *}" "${rates#* }"
kept=$(ls "$tmp/pre/checkpoints/"*.safetensors | wc -l)
report "keep_checkpoints 2 keeps two" $([ "$kept" = 2 ] && echo 1 || echo 0) "$kept kept"
ckpt="$tmp/pre/checkpoints/step-160.safetensors"
cev=$(last_event "$ev" checkpoint)
sha=$(sha256sum "$ckpt" | cut -d' ' -f1)
report "checkpoint event carries the file's sha256 and size" \
  $([ "$(field "$cev" sha256)" = "$sha" ] && [ "$(field "$cev" bytes)" = "$(stat -c %s "$ckpt")" ] && echo 1 || echo 0) "$sha"
out=$(python3 tests/integration/check_checkpoint.py "$ckpt")
report "checkpoint conforms to safetensors rules and the contract" $([ $? = 0 ] && echo 1 || echo 0) "$out"
preview="$tmp/pre/$(field "$(last_event "$ev" preview)" path)"
report "preview PNG written" $(head -c 8 "$preview" | od -An -c | grep -q 'P   N   G' && echo 1 || echo 0) "$preview"

# --- SIGTERM and --resume ---------------------------------------------------------------
cat > "$tmp/resume.json" <<JSON
{"kind": "pretrain", "dataset": $data, $small_model,
 "train": {"epochs": 3, "batch_size": 50, "seed": 3, "threads": 2},
 "schedule": {"progress_every_steps": 5, "checkpoint_every_steps": 1000, "preview_every_steps": 1000}}
JSON
$train --spec "$tmp/resume.json" --run-dir "$tmp/whole" > /dev/null 2>&1
$train --spec "$tmp/resume.json" --run-dir "$tmp/split" > /dev/null 2> "$tmp/split.err" &
pid=$!
python3 - "$tmp/split/events.jsonl" <<'PY'
import json, os, sys, time
for _ in range(1200):  # until step 20 is done (at most a minute)
    if os.path.exists(sys.argv[1]):
        steps = [json.loads(l).get("step", 0) for l in open(sys.argv[1]) if '"progress"' in l]
        if steps and max(steps) >= 20:
            break
    time.sleep(0.05)
PY
kill -TERM $pid
wait $pid
rc=$?
stopped=$(last_event "$tmp/split/events.jsonl" stopped)
report "SIGTERM: checkpoint, stopped event, exit 0" $([ $rc = 0 ] && [ -n "$stopped" ] && echo 1 || echo 0) "exit $rc, $stopped"
$train --spec "$tmp/resume.json" --run-dir "$tmp/split" --resume > /dev/null 2>> "$tmp/split.err"
resumed=$(grep '"event":"start"' "$tmp/split/events.jsonl" | tail -n 1)
report "--resume continues from the stop checkpoint" \
  $([ "$(field "$resumed" resumed_from_step)" = "$(field "$stopped" step)" ] && echo 1 || echo 0) "$resumed"
report "stopped and resumed run ends bit-identical to an uninterrupted one" \
  $(cmp -s "$tmp/whole/checkpoints/step-120.safetensors" "$tmp/split/checkpoints/step-120.safetensors" && echo 1 || echo 0) \
  "step-120.safetensors compared byte for byte"

# --- fine-tuning ------------------------------------------------------------------------
cat > "$tmp/finetune.json" <<JSON
{"kind": "finetune", "dataset": $data,
 "train": {"epochs": 5, "batch_size": 50, "seed": 1, "threads": 2, "lr": 3e-3},
 "augment": {"crop_scale": [1.0, 1.0], "crop_ratio": [1.0, 1.0], "hflip": false},
 "finetune": {"init_from": {"path": "$ckpt"}, "layer_decay": 1.0},
 "schedule": {"progress_every_steps": 20, "checkpoint_every_steps": 1000}}
JSON
$train --spec "$tmp/finetune.json" --run-dir "$tmp/ft" > /dev/null 2> "$tmp/ft.err"
rc=$?
done_ev=$(last_event "$tmp/ft/events.jsonl" done)
top1=$(field "$done_ev" top1)
report "fine-tuning from the checkpoint beats chance (10%) by a wide margin" \
  $([ $rc = 0 ] && python3 -c "print(int(${top1:-0} > 40))" || echo 0) "top-1 ${top1:-none}%, exit $rc"
ft_ckpt="$tmp/ft/checkpoints/step-200.safetensors"
out=$(python3 tests/integration/check_checkpoint.py "$ft_ckpt")
report "fine-tuning checkpoint conforms to the contract" $([ $? = 0 ] && echo 1 || echo 0) "$out"
independent=$($evaluate --checkpoint "$ft_ckpt" --format idx --data "$tmp/fm" --batch 64)
report "reported top-1 equals an independent evaluation of the checkpoint" \
  $(python3 -c "print(int(abs(${top1:-0} - $(field "$independent" top1)) < 1e-6))") "trainer $top1, simmim-eval $independent"

# --- mask types ---------------------------------------------------------------------------
for m in 'square 0.25 1.00' 'block 0.4'; do
  set -- $m
  cat > "$tmp/mask.json" <<JSON
{"kind": "pretrain", "dataset": $data, $small_model,
 "mask": {"type": "$1", "ratio": $2, "mask_patch_size": 4, "min_block": 4},
 "train": {"total_steps": 6, "batch_size": 50, "threads": 2}}
JSON
  $train --spec "$tmp/mask.json" --run-dir "$tmp/mask-$1" > /dev/null 2> "$tmp/mask.err"
  rc=$?
  ev="$tmp/mask-$1/events.jsonl"
  effective=$(field "$(last_event "$ev" start)" mask_ratio_effective)
  want=$([ "$1" = square ] && echo 0.25 || echo "$2") # square: k = 4 of an 8×8 grid
  report "a $1-mask pretraining runs and reports the ratio its masks reach" \
    $([ $rc = 0 ] && python3 -c "import sys; sys.exit(0 if abs($effective - $want) < 0.02 else 1)" && echo 1 || echo 0) \
    "exit $rc, mask_ratio_effective $effective (asked $2)"
done

# --- bad input --------------------------------------------------------------------------
expect_error() { # expect_error NAME SPEC_JSON WORD [RUN_DIR]: one error line naming WORD, no new checkpoint
  local name=$1 spec=$2 word=$3 dir=${4:-$tmp/bad-$RANDOM}
  printf '%s' "$spec" > "$tmp/bad.json"
  local before after
  before=$(ls "$dir/checkpoints" 2>/dev/null)
  $train --spec "$tmp/bad.json" --run-dir "$dir" > /dev/null 2> "$tmp/bad.err"
  local rc=$? lines
  after=$(ls "$dir/checkpoints" 2>/dev/null)
  lines=$(wc -l < "$tmp/bad.err")
  local ok=0
  [ $rc != 0 ] && [ "$lines" = 1 ] && grep -q -- "$word" "$tmp/bad.err" && [ "$before" = "$after" ] && ok=1
  report "bad input: $name" $ok "exit $rc: $(head -c 300 "$tmp/bad.err")"
}
mkdir -p "$tmp/trunc" "$tmp/empty/train/a" "$tmp/empty/test/a" "$tmp/png/train/a" "$tmp/png/test/a" \
  "$tmp/jpg/train/a" "$tmp/jpg/test/a"
cp "$tmp/fm/"* "$tmp/trunc/"
head -c 100000 "$tmp/fm/train-images-idx3-ubyte.gz" > "$tmp/trunc/train-images-idx3-ubyte.gz"
for split in train test; do
  head -c 300 /dev/urandom > "$tmp/png/$split/a/broken.png"
  printf '\xff\xd8\xff\xe0\x00\x10JFIF\x00' > "$tmp/jpg/$split/a/cut.jpg"
done
ft() { echo "{\"kind\": \"finetune\", \"dataset\": $data, \"finetune\": {\"init_from\": {\"path\": \"$1\"}}}"; }
expect_error "missing dataset" '{"dataset": {"format": "idx", "path": "/nonexistent/fm"}}' "/nonexistent/fm"
expect_error "truncated IDX" "{\"dataset\": {\"format\": \"idx\", \"path\": \"$tmp/trunc\"}}" "train-images"
expect_error "corrupt PNG" "{\"dataset\": {\"format\": \"imagefolder\", \"path\": \"$tmp/png\"}}" "broken.png"
expect_error "truncated JPEG" "{\"dataset\": {\"format\": \"imagefolder\", \"path\": \"$tmp/jpg\"}}" "cut.jpg"
expect_error "empty folder" "{\"dataset\": {\"format\": \"imagefolder\", \"path\": \"$tmp/empty\"}}" "$tmp/empty"
expect_error "unwritable run dir" "{\"dataset\": $data}" "run dir" /dev/null/run
expect_error "unknown key" '{"trian": {"epochs": 1}}' "trian"
expect_error "wrong type" '{"train": {"epochs": "ten"}}' "train.epochs"
expect_error "out-of-range value" '{"train": {"lr": -1}}' "train.lr"
expect_error "invalid model" '{"model": {"embed_dim": 100, "num_heads": 3}}' "model.embed_dim"
expect_error "unknown precision" '{"train": {"precision": "fp16"}}' "train.precision"
if ! grep -qw avx512_bf16 /proc/cpuinfo; then # a processor (or kernel) without AVX512-BF16 (AMX implies it)
  expect_error "bf16 where the processor cannot run it" "{\"dataset\": $data, \"train\": {\"precision\": \"bf16\"}}" \
    "train.precision"
else # where it can: a short bf16 pretraining runs, says so, and lowers the loss like fp32's
  printf '%s' "{\"dataset\": $data, $small_model, \"train\": {\"precision\": \"bf16\", \"epochs\": 2,
    \"batch_size\": 50, \"seed\": 1}, \"schedule\": {\"progress_every_steps\": 10}}" > "$tmp/bf16.json"
  $train --spec "$tmp/bf16.json" --run-dir "$tmp/bf16" > "$tmp/bf16.out" 2> "$tmp/bf16.err"
  rc=$?
  bf16_run=$(python3 -c '
import json, sys
events = [json.loads(line) for line in open(sys.argv[1])]
start = next(e for e in events if e["event"] == "start")
losses = [e["loss"] for e in events if e["event"] == "progress"]
print(int(start["precision"] == "bf16" and losses[-1] < 0.8 * losses[0]), start["precision"], losses[0], losses[-1])' "$tmp/bf16.out")
  report "bf16 pretraining runs, reports its precision and lowers the loss" \
    $([ $rc = 0 ] && echo "${bf16_run%% *}" || echo 0) "exit $rc; precision, first and last loss: ${bf16_run#* }"
fi
python3 tests/integration/tamper_checkpoint.py "$ckpt" "$tmp/renamed.safetensors" rename blocks.1.attn.qkv.weight blocks.1.attn.qkv.w
python3 tests/integration/tamper_checkpoint.py "$ckpt" "$tmp/reshaped.safetensors" drop-row pos_embed
python3 tests/integration/tamper_checkpoint.py "$ckpt" "$tmp/cut.safetensors" truncate 5000
python3 tests/integration/tamper_checkpoint.py "$ckpt" "$tmp/nan.safetensors" nan blocks.0.norm1.weight
expect_error "checkpoint with a wrong name" "$(ft "$tmp/renamed.safetensors")" "blocks.1.attn.qkv.weight"
expect_error "checkpoint with a wrong shape" "$(ft "$tmp/reshaped.safetensors")" "pos_embed"
expect_error "truncated checkpoint" "$(ft "$tmp/cut.safetensors")" "cut.safetensors"
expect_error "a non-finite loss ends the job" "$(ft "$tmp/nan.safetensors")" "not finite"
expect_error "fine-tuning checkpoint as a start" "$(ft "$ft_ckpt")" "fine-tuning checkpoint"
expect_error "existing checkpoints without --resume" "{\"dataset\": $data}" "--resume" "$tmp/pre"
