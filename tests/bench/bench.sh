#!/usr/bin/env bash
# `make bench`: a full training step (forward, backward, clipping, AdamW) of simmimd beside
# PyTorch on the same machine in the same run, for docs/recipes.md's configs — the step alone on
# synthetic inputs, and simmim-train itself through its loader on real images — and prints a
# table of images/s and their ratio, the share of step time spent waiting for the loader,
# achieved GFLOP/s (3× the forward pass's matrix-product FLOPs, 2·M·N·K each, attention
# included), the fraction of the measured sgemm peak, and peak RSS.
# Machine load on this shared host drifts by ±10% within a minute, so the sides are interleaved:
# each round runs our step, simmim-train and PyTorch's step back to back, and the ratios
# reported are medians of the per-round ratios. The configs in BENCH_SCALING also run our
# step on one thread each round, for the 1 → 2 thread scaling.
# A config is preset:kind:batch:steps[:precision[:head]]. At a precision other than fp32 our step and
# simmim-train run at it, and each round also runs our fp32 step, the yardstick of the gain;
# PyTorch's step runs at the same precision (bf16: autocast, its mixed precision). A processor
# that cannot run the precision skips the config with a note.
# A pretraining config may choose the SimMIM head (docs/job-spec.md decoder, loss, target): head
# is a comma-separated list of decoder=mlp|transformer, depth=N (a transformer's blocks, default
# 2), hidden=H (an mlp's width), loss=l2|smooth_l1|binsK|paletteK, target=R (an empty precision
# is fp32), e.g. fmnist-vit-t:pretrain:128:3::decoder=transformer,depth=4 or
# fmnist-vit-t:pretrain:128:3::loss=bins256. Every side runs that head (PyTorch's step with
# tests/golden/simmim_torch.py's), and each round also runs our step and PyTorch's with the
# linear/l1 head of the same config back to back, the yardstick of the head's cost (report.py's
# "cost": the base step's img/s over the head's, per round).
# A Swin config (issue 28) is also profiled once after its rounds (tests/bench/profile.sh, perf):
# report.py gives window attention's share of our step.
#   BENCH_THREADS (default 2), BENCH_REPS (rounds, default 5), BENCH_CONFIGS to choose configs.
set -euo pipefail
cd "$(dirname "$0")/../.."
threads=${BENCH_THREADS:-2}
reps=${BENCH_REPS:-5}
scaling=${BENCH_SCALING:-vit-t16-224}
# The head rows (issue 25): one per decoder and per classification loss, on fmnist-vit-t
# (about 2.5 minutes each at 5 rounds on 2 threads, most of it PyTorch's two steps).
configs=${BENCH_CONFIGS:-"fmnist-q:pretrain:256:3 fmnist-q:pretrain:256:3:bf16 fmnist-q:finetune:256:3 \
fmnist-q:finetune:256:3:bf16 fmnist-vit-t:pretrain:128:3 vit-t16-224:pretrain:32:2 \
fmnist-vit-t:pretrain:128:3::decoder=mlp fmnist-vit-t:pretrain:128:3::decoder=transformer \
fmnist-vit-t:pretrain:128:3::loss=bins256 fmnist-vit-t:pretrain:128:3::loss=palette512 \
swin-fmnist:pretrain:128:3 swin-t-192:pretrain:32:2"}
out=build/bench
mkdir -p "$out"

# head_args HEAD → bench_step's (and torch_step's, trainer_step's) options for a config's head.
head_args() {
  local item value IFS=,
  for item in $1; do
    value=${item#*=}
    case $item in
      decoder=*) printf ' --decoder %s' "$value" ;;
      depth=*) printf ' --decoder-depth %s' "$value" ;;
      hidden=*) printf ' --decoder-hidden %s' "$value" ;;
      loss=*)
        if [[ $value =~ ^(bins|palette)([0-9]+)$ ]]; then
          printf ' --loss %s --loss-k %s' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
        else
          printf ' --loss %s' "$value"
        fi ;;
      target=*) printf ' --target-resolution %s' "$value" ;;
      *) echo "bench.sh: unknown head option '$item' (decoder=, depth=, hidden=, loss=, target=)" >&2
         return 1 ;;
    esac
  done
}
# Every config's head is read before anything runs: a typo fails at once, not an hour in.
for c in $configs; do
  IFS=: read -r _ kind _ _ _ head <<< "$c"
  head_args "$head" > /dev/null
  if [ -n "$head" ] && [ "$kind" != pretrain ]; then
    echo "bench.sh: $c: a head is pretraining's" >&2; exit 1
  fi
done

results="$out/results.jsonl"
: > "$results"

build/bench_step --sgemm-peak --threads "$threads" | tee -a "$results"
build/bench_step --sgemm-peak --threads 1 | tee -a "$results"
# The 224- and 192-pixel configs train through the loader on an RGB folder of 256-pixel PNG and
# JPEG images written here; the 32-pixel ones on Debian's Fashion-MNIST.
images=build/bench/images
[ -d "$images/train" ] || build/make_images "$images" 480 64 10
has_torch=0
/usr/bin/python3 -c "import torch" 2>/dev/null && has_torch=1
for c in $configs; do
  IFS=: read -r preset kind batch steps precision head <<< "$c"
  precision=${precision:-fp32}
  read -ra heads <<< "$(head_args "$head")"
  trainer_ok=1
  echo "# $preset $kind batch $batch $precision${head:+ $head}" >&2
  case "$preset" in
    *-224 | *-192) data=(--data-format imagefolder --data "$images") ;;
    *) data=(--data-format idx --data /usr/share/datasets/fashion-mnist) ;;
  esac
  for round in $(seq "$reps"); do
    base=(--preset "$preset" --kind "$kind" --batch "$batch" --steps "$steps" --reps 1)
    args=("${base[@]}" "${heads[@]}")
    ours=("${args[@]}" --precision "$precision")
    # Every line names its config: a bf16 config's fp32 and PyTorch lines are its own, and so
    # are a head config's linear/l1 lines, marked "base".
    tag="s/^{/{\"round\": $round, \"config\": \"$c\", /"
    basetag="s/^{/{\"round\": $round, \"config\": \"$c\", \"base\": true, /"
    # bench_step refuses a precision this processor cannot run before it does anything.
    if ! build/bench_step "${ours[@]}" --threads "$threads" > "$out/step.json" 2> "$out/step.err"; then
      why=$(cat "$out/step.err")
      if [ "$precision" = fp32 ] || [ "$round" != 1 ]; then echo "$why" >&2; exit 1; fi
      echo "# skipping $c: $why" >&2
      /usr/bin/python3 -c 'import json, sys; print(json.dumps({"config": sys.argv[1], "skipped": sys.argv[2]}))' \
        "$c" "$why" >> "$results"
      continue 2
    fi
    sed "$tag" "$out/step.json" | tee -a "$results"
    if [ "$precision" != fp32 ]; then
      build/bench_step "${args[@]}" --threads "$threads" | sed "$tag" | tee -a "$results"
    fi
    if [ -n "$head" ]; then
      build/bench_step "${base[@]}" --precision "$precision" --threads "$threads" |
        sed "$basetag" | tee -a "$results"
    fi
    # A head simmim-train cannot run (a spec without that section) leaves the trainer column
    # empty for its config, with a note, rather than stopping the bench.
    if [ $trainer_ok = 1 ]; then
      if /usr/bin/python3 tests/bench/trainer_step.py "${ours[@]}" --threads "$threads" "${data[@]}" \
           > "$out/trainer.json" 2> "$out/trainer.err"; then
        sed "$tag" "$out/trainer.json" | tee -a "$results"
      elif [ -n "$head" ]; then
        trainer_ok=0
        echo "# simmim-train cannot run $c: $(cat "$out/trainer.err")" >&2
        /usr/bin/python3 -c 'import json, sys; print(json.dumps({"config": sys.argv[1], "trainer_skipped": sys.argv[2]}))' \
          "$c" "$(cat "$out/trainer.err")" >> "$results"
      else
        cat "$out/trainer.err" >&2; exit 1
      fi
    fi
    if [ $has_torch = 1 ]; then
      /usr/bin/python3 tests/bench/torch_step.py "${ours[@]}" --threads "$threads" |
        sed "$tag; s/^{/{\"impl\": \"pytorch\", /" | tee -a "$results"
      if [ -n "$head" ]; then
        /usr/bin/python3 tests/bench/torch_step.py "${base[@]}" --precision "$precision" --threads "$threads" |
          sed "$basetag; s/^{/{\"impl\": \"pytorch\", /" | tee -a "$results"
      fi
    fi
    if [[ " $scaling " == *" $preset "* ]]; then
      build/bench_step "${ours[@]}" --threads 1 | sed "$tag" | tee -a "$results"
    fi
  done
  if [[ $preset == swin-* ]]; then
    tests/bench/profile.sh --preset "$preset" --kind "$kind" --batch "$batch" --threads "$threads" \
      --precision "$precision" "${heads[@]}" > "$out/profile.txt"
    cat "$out/profile.txt" >&2
    /usr/bin/python3 -c 'import json, sys; print(json.dumps({"config": sys.argv[1], "window_attention": sys.argv[2]}))' \
      "$c" "$(grep '^window attention' "$out/profile.txt")" | tee -a "$results"
  fi
done
# The peak again at the end: the higher of the two is the machine's, less what load stole.
build/bench_step --sgemm-peak --threads "$threads" | tee -a "$results"
/usr/bin/python3 tests/bench/report.py "$results"
