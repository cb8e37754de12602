#!/usr/bin/env bash
# The SimMIM head's choices end to end through simmim-train (issue 25; docs/job-spec.md's
# decoder, target and loss): a pretraining per decoder — each with another target and loss —
# lowers its loss, writes its decoder's tensors and the sections of its head into the
# checkpoint, reports in its start event a memory estimate that bounds what it allocated, and
# draws previews; a fine-tuning starts from each of those checkpoints; a continued pretraining
# (pretrain.init_from) starts where its checkpoint ended, and one whose head differs is refused.
# Prints "ok - ..." / "not ok - ..." lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
train=build/simmim-train
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/integration/daemon_client.sh

python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/fm" 1000 200
data="{\"format\": \"idx\", \"path\": \"$tmp/fm\"}"
small_model='"model": {"embed_dim": 64, "depth": 2, "num_heads": 2}'
schedule='"schedule": {"progress_every_steps": 5, "checkpoint_every_steps": 20, "preview_every_steps": 20}'

# event FILE NAME KEY: KEY of the first NAME event; last_of FILE NAME KEY: of the last
event() { grep "\"event\":\"$2\"" "$1" | head -n 1 | json "$3"; }
last_of() { grep "\"event\":\"$2\"" "$1" | tail -n 1 | json "$3"; }
# metadata FILE KEY: a safetensors file's __metadata__ entry; tensors FILE: its tensor names
metadata() {
  python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; print(json.loads(f.read(n))["__metadata__"].get(sys.argv[2], ""))' "$1" "$2"
}
tensors() {
  python3 -c 'import json,struct,sys; f=open(sys.argv[1],"rb"); n=struct.unpack("<Q",f.read(8))[0]; print(" ".join(k for k in json.loads(f.read(n)) if k != "__metadata__"))' "$1"
}

pretrain() { # pretrain NAME HEAD_JSON [EXTRA_JSON]: 20 steps
  cat > "$tmp/$1.json" <<JSON
{"kind": "pretrain", "dataset": $data, $small_model, $2, ${3:+$3,}
 "train": {"epochs": 1, "batch_size": 50, "seed": 3, "threads": 2}, $schedule}
JSON
  $train --spec "$tmp/$1.json" --run-dir "$tmp/$1" > /dev/null 2> "$tmp/$1.err"
}

# name | head | a tensor only this decoder has | the head's sections as the checkpoint records them
cases=(
  "mlp|\"decoder\": {\"type\": \"mlp\", \"hidden\": 96}, \"target\": {\"resolution\": 16}, \"loss\": {\"type\": \"bins\", \"bins\": 8}|decoder.fc1.weight|\"type\":\"mlp\",\"hidden\":96|\"resolution\":16|\"type\":\"bins\""
  "transformer|\"decoder\": {\"type\": \"transformer\", \"depth\": 1, \"embed_dim\": 48, \"num_heads\": 3}, \"target\": {\"resolution\": 8}, \"loss\": {\"type\": \"palette\", \"palette\": 16}|decoder.blocks.0.attn.qkv.weight|\"type\":\"transformer\"|\"resolution\":8|\"type\":\"palette\""
  "linear|\"loss\": {\"type\": \"smooth_l1\", \"beta\": 0.5, \"scope\": \"full\"}|decoder.0.weight|\"type\":\"linear\"|\"resolution\":null|\"scope\":\"full\""
)
for c in "${cases[@]}"; do
  IFS='|' read -r name head tensor decoder_words target_words loss_words <<< "$c"
  pretrain "$name" "$head"
  rc=$?
  ev="$tmp/$name/events.jsonl"
  ckpt="$tmp/$name/checkpoints/step-20.safetensors"
  first=$(event "$ev" progress loss) last=$(last_of "$ev" progress loss)
  report "$name decoder: pretraining runs and lowers its loss" \
    $([ $rc = 0 ] && python3 -c "import sys; sys.exit(not float(sys.argv[2]) < float(sys.argv[1]))" "$first" "$last" && echo 1 || echo 0) \
    "exit $rc, loss $first → $last; $(tail -n 1 "$tmp/$name.err")"
  names=$(tensors "$ckpt" 2>/dev/null)
  report "$name decoder: the checkpoint holds its tensors and records its head" \
    $([[ " $names " == *" $tensor "* ]] && [[ "$(metadata "$ckpt" decoder)" == *"$decoder_words"* ]] &&
      [[ "$(metadata "$ckpt" target)" == *"$target_words"* ]] && [[ "$(metadata "$ckpt" loss)" == *"$loss_words"* ]] && echo 1 || echo 0) \
    "$tensor; decoder $(metadata "$ckpt" decoder); target $(metadata "$ckpt" target); loss $(metadata "$ckpt" loss)"
  estimate=$(event "$ev" start memory_estimate_mb) allocated=$(event "$ev" start memory_allocated_mb)
  report "$name decoder: the start event's memory estimate bounds what was allocated" \
    $(python3 -c "import sys; e, a = map(float, sys.argv[1:]); sys.exit(not a <= e <= a * 1.05 + 4)" "$estimate" "$allocated" && echo 1 || echo 0) \
    "estimate $estimate MB, allocated $allocated MB"
  preview="$tmp/$name/previews/step-20.png"
  report "$name decoder: a preview is drawn" \
    $([ "$(head -c 8 "$preview" 2>/dev/null | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] && echo 1 || echo 0) "$preview"
  cat > "$tmp/ft-$name.json" <<JSON
{"kind": "finetune", "dataset": $data, "finetune": {"init_from": {"path": "$ckpt"}},
 "train": {"epochs": 1, "batch_size": 50, "seed": 3, "threads": 2, "max_steps": 10}, $schedule}
JSON
  $train --spec "$tmp/ft-$name.json" --run-dir "$tmp/ft-$name" > /dev/null 2> "$tmp/ft-$name.err"
  rc=$?
  report "$name decoder: a fine-tuning starts from its checkpoint" \
    $([ $rc = 0 ] && [ -n "$(last_of "$tmp/ft-$name/events.jsonl" done top1)" ] && echo 1 || echo 0) \
    "exit $rc, top1 $(last_of "$tmp/ft-$name/events.jsonl" done top1); $(tail -n 1 "$tmp/ft-$name.err")"
done

# --- continued pretraining: from the mlp run's checkpoint, with the same head ---------------
mlp_head=${cases[0]#*|}
mlp_head=${mlp_head%%|*}
mlp_last=$(last_of "$tmp/mlp/events.jsonl" progress loss)
pretrain continued "$mlp_head" "\"pretrain\": {\"init_from\": {\"path\": \"$tmp/mlp/checkpoints/step-20.safetensors\"}}"
rc=$?
continued_first=$(event "$tmp/continued/events.jsonl" progress loss)
mlp_first=$(event "$tmp/mlp/events.jsonl" progress loss)
report "a continued pretraining starts where its checkpoint ended, not from scratch" \
  $([ $rc = 0 ] && python3 -c "import sys; a, b, c = map(float, sys.argv[1:]); sys.exit(not abs(b - a) < abs(c - a))" "$mlp_last" "$continued_first" "$mlp_first" && echo 1 || echo 0) \
  "exit $rc; the checkpoint's run ended at $mlp_last, the continued run's first loss $continued_first, a fresh run's $mlp_first"
pretrain other_head "${mlp_head/\"bins\": 8/\"bins\": 16}" "\"pretrain\": {\"init_from\": {\"path\": \"$tmp/mlp/checkpoints/step-20.safetensors\"}}"
rc=$?
report "a continued pretraining with another head is refused, naming pretrain.init_from" \
  $([ $rc != 0 ] && grep -q "pretrain.init_from: .*bins 8.*bins 16" "$tmp/other_head.err" && [ ! -e "$tmp/other_head/checkpoints/step-20.safetensors" ] && echo 1 || echo 0) \
  "exit $rc: $(tail -n 1 "$tmp/other_head.err")"
