#!/usr/bin/env bash
# The design-space fields of a job spec through the API (issue 25; docs/job-spec.md): a bad value
# of each of decoder, target, loss's new fields, train.max_memory_mb and pretrain.init_from gets
# a 400 naming the field (a combination names both fields) and stores nothing; the paper's N/A
# (vit-t16-224, 256 bins at full resolution, batch 128) is refused for its memory before
# anything runs; pretrain.init_from is resolved as finetune.init_from is (404 for an id that
# does not exist, 409 for a fine-tuning's job or checkpoint) and refused with 400 when the
# checkpoint's head differs from the spec's; good values are accepted and echoed. Prints
# "ok - ..." / "not ok - ..." lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/daemon_client.sh
fm_session 400 100

# --- bad values of every new field --------------------------------------------------------
refused 400 decoder '{"decoder": 3}'
refused 400 decoder.type '{"decoder": {"type": "conv"}}'
refused 400 decoder.width '{"decoder": {"type": "mlp", "width": 64}}'
refused 400 decoder.hidden '{"decoder": {"type": "mlp", "hidden": 0}}'
refused 400 decoder.hidden '{"decoder": {"type": "mlp", "hidden": 16385}}'
refused 400 decoder.hidden '{"decoder": {"hidden": 64}}' 'decoder.type "mlp"' '"linear"'
refused 400 decoder.depth '{"decoder": {"type": "transformer", "depth": 0}}'
refused 400 decoder.depth '{"decoder": {"type": "transformer", "depth": 257}}'
refused 400 decoder.depth '{"decoder": {"type": "mlp", "depth": 2}}' 'decoder.type "transformer"'
refused 400 decoder.embed_dim '{"decoder": {"type": "transformer", "embed_dim": 96, "num_heads": 5}}' \
  decoder.num_heads
refused 400 decoder.embed_dim '{"decoder": {"type": "linear", "embed_dim": 64}}' decoder.type
refused 400 decoder.num_heads '{"decoder": {"type": "transformer", "num_heads": 256}}'
refused 400 decoder.num_heads '{"decoder": {"type": "transformer", "num_heads": "4"}}'
refused 400 target '{"target": "x"}'
refused 400 target.size '{"target": {"size": 16}}'
refused 400 target.resolution '{"target": {"resolution": 0}}'
refused 400 target.resolution '{"target": {"resolution": 12}}' 'token grid' model.patch_size
refused 400 target.resolution '{"target": {"resolution": 24}}' model.img_size
refused 400 target.resolution '{"target": {"resolution": 64}}'
refused 400 loss.type '{"loss": {"type": "ce"}}'
refused 400 loss.beta '{"loss": {"type": "smooth_l1", "beta": -1}}'
refused 400 loss.beta '{"loss": {"beta": 0.5}}' 'loss.type "smooth_l1"' '"l1"'
refused 400 loss.bins '{"loss": {"type": "bins", "bins": 1}}'
refused 400 loss.bins '{"loss": {"type": "bins", "bins": 257}}'
refused 400 loss.bins '{"loss": {"type": "l2", "bins": 8}}' 'loss.type "bins"'
refused 400 loss.palette '{"loss": {"type": "palette", "palette": 1}}'
refused 400 loss.palette '{"loss": {"type": "palette", "palette": 1025}}'
refused 400 loss.palette '{"loss": {"type": "bins", "palette": 16}}' 'loss.type "palette"'
refused 400 train.max_memory_mb '{"train": {"max_memory_mb": -1}}'
refused 400 train.max_memory_mb '{"train": {"max_memory_mb": "1024"}}'
refused 400 train.max_memory_mb '{"train": {"max_memory_mb": 1.5}}'
refused 400 train.max_memory_mb '{"train": {"max_memory_mb": 100}}' "limit of 100 MB" train.batch_size
refused 400 pretrain '{"pretrain": 3}'
refused 400 pretrain.checkpoint '{"pretrain": {"checkpoint": 3}}' 'pretrain.init_from: {"checkpoint": 3}'
refused 400 pretrain.init_from '{"pretrain": {"init_from": 0}}'
refused 400 pretrain.init_from '{"pretrain": {"init_from": "job3"}}'
refused 400 pretrain.init_from '{"pretrain": {"init_from": {"checkpoint": 1, "path": "/x"}}}'
refused 400 pretrain.init_from '{"pretrain": {"init_from": {"path": "/x.safetensors"}}}' 'through the API'
refused 400 pretrain.init_from '{"kind": "finetune", "pretrain": {"init_from": 1}}' finetune.init_from
refused 400 finetune.init_from '{"finetune": {"init_from": 1}}' pretrain.init_from

# --- memory, refused up front -------------------------------------------------------------
na='"model": {"preset": "vit-t16-224"}, "loss": {"type": "bins", "bins": 256}'
refused 400 train.max_memory_mb "{$na, \"train\": {\"batch_size\": 128, \"max_memory_mb\": 32768}}" \
  "limit of 32768 MB" target.resolution loss.bins
machine_mb=$(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo)
if [ "$machine_mb" -lt 160000 ]; then # half of this machine is below the N/A's ~80 GB
  refused 400 train.max_memory_mb "{$na, \"train\": {\"batch_size\": 128}}" \
    "half of this machine's memory" loss.bins
fi

# --- pretrain.init_from: what it names ------------------------------------------------------
refused 404 pretrain.init_from '{"pretrain": {"init_from": 99999}}' "no job 99999"
refused 404 pretrain.init_from '{"pretrain": {"init_from": {"checkpoint": 99999}}}' "no checkpoint 99999"

# A small pretraining and a fine-tuning from it, two steps each, for their checkpoints.
small='"model": {"embed_dim": 32, "depth": 1, "num_heads": 1}'
short='"train": {"batch_size": 50, "max_steps": 2, "threads": 2}'
pre=$(api POST /api/v1/jobs "{\"dataset\": \"fm\", $small, $short}" | json id)
wait_state "$pre" succeeded 120
check "a two-step pretraining succeeds" $([ $? = 0 ] && echo 1 || echo 0) \
  "$(api GET "/api/v1/jobs/$pre" | json state)"
ft=$(api POST /api/v1/jobs "{\"kind\": \"finetune\", \"dataset\": \"fm\", $short,
  \"finetune\": {\"init_from\": $pre}}" | json id)
wait_state "$ft" succeeded 120
check "a two-step fine-tuning from it succeeds" $([ $? = 0 ] && echo 1 || echo 0) \
  "$(api GET "/api/v1/jobs/$ft" | json state)"
ft_ckpt=$(api GET "/api/v1/jobs/$ft/checkpoints" | json checkpoints.0.id)
pre_ckpt=$(api GET "/api/v1/jobs/$pre/checkpoints" | json checkpoints.0.id)

refused 409 pretrain.init_from "{\"dataset\": \"fm\", \"pretrain\": {\"init_from\": $ft}}" \
  "job $ft is a fine-tuning job"
refused 409 pretrain.init_from "{\"dataset\": \"fm\", \"pretrain\": {\"init_from\": {\"checkpoint\": $ft_ckpt}}}" \
  "checkpoint $ft_ckpt is from a fine-tuning job"
# The checkpoint's head (linear, 32×32 target, l1) is the only one a continuation may have.
refused 400 pretrain.init_from "{\"dataset\": \"fm\", \"pretrain\": {\"init_from\": $pre},
  \"decoder\": {\"type\": \"mlp\"}}" "its decoder is linear, the spec's is mlp (hidden 32)"
refused 400 pretrain.init_from "{\"dataset\": \"fm\", \"pretrain\": {\"init_from\": $pre},
  \"target\": {\"resolution\": 8}}" "its target.resolution is 32, the spec's is 8"
refused 400 pretrain.init_from "{\"dataset\": \"fm\", \"pretrain\": {\"init_from\": {\"checkpoint\": $pre_ckpt}},
  \"loss\": {\"type\": \"bins\", \"bins\": 16}}" "the spec's is bins 16"
# An explicit size that is not the checkpoint's names that size, as for a fine-tuning.
refused 400 model.embed_dim "{\"dataset\": \"fm\", \"pretrain\": {\"init_from\": $pre},
  \"model\": {\"embed_dim\": 64}}" "the starting checkpoint has 32"
check "refused continuations leave no pin" $([ -z "$(ls "$state/pinned" 2>/dev/null)" ] && echo 1 || echo 0) \
  "$(ls "$state/pinned" 2>/dev/null)"

# --- good values: accepted, echoed, handed to the trainer ------------------------------------
# A continuation with a head the checkpoint has (l2 predicts what l1 does): its model is the
# checkpoint's, the child's spec names the pinned file with its sha256.
cont=$(api POST /api/v1/jobs "{\"dataset\": \"fm\", \"pretrain\": {\"init_from\": $pre},
  \"loss\": {\"type\": \"l2\"}, $short}" | json id)
check "pretrain.init_from a matching pretraining → 201" $([ "$(status)" = 201 ] && echo 1 || echo 0) \
  "$(status) $(head -c 300 "$tmp/body")"
echoed=$(api GET "/api/v1/jobs/$cont" | json spec)
child=$(cat "$state/runs/$cont/spec.json" 2>/dev/null)
pre_sha=$(api GET "/api/v1/checkpoints/$pre_ckpt" | json sha256)
check "its echo names the job and the checkpoint's encoder; finetune.init_from is null" \
  $([ "$(echo "$echoed" | json pretrain.init_from)" = "$pre" ] &&
    [ "$(echo "$echoed" | json model.embed_dim)" = 32 ] && [ "$(echo "$echoed" | json model.depth)" = 1 ] &&
    [ -z "$(echo "$echoed" | json finetune.init_from)" ] && echo 1 || echo 0) "$echoed"
check "the trainer's spec names the pinned file and its sha256" \
  $([ "$(echo "$child" | json pretrain.init_from.sha256)" = "$pre_sha" ] &&
    [[ "$(echo "$child" | json pretrain.init_from.path)" == "$state/pinned/"* ]] && echo 1 || echo 0) \
  "checkpoint $pre_ckpt, sha256 $pre_sha: $(echo "$child" | json pretrain)"
api POST "/api/v1/jobs/$cont/cancel" > /dev/null
# Each decoder, target and loss is accepted and echoed as given (unused fields as null).
accepted() { # accepted BODY SECTION EXPECTED_JSON
  local id echoed
  id=$(api POST /api/v1/jobs "$1" | json id)
  local code
  code=$(status)
  echoed=$(api GET "/api/v1/jobs/$id" | json "spec.$2")
  api POST "/api/v1/jobs/$id/cancel" > /dev/null
  check "accepted and echoed: $1" $([ "$code" = 201 ] && [ "$echoed" = "$3" ] && echo 1 || echo 0) "$code $echoed"
}
accepted '{"dataset": "fm", "decoder": {"type": "mlp", "hidden": 64}}' decoder \
  '{"type": "mlp", "hidden": 64, "depth": null, "embed_dim": null, "num_heads": null}'
accepted '{"dataset": "fm", "decoder": {"type": "transformer", "depth": 1, "num_heads": 2}}' decoder \
  '{"type": "transformer", "hidden": null, "depth": 1, "embed_dim": null, "num_heads": 2}'
accepted '{"dataset": "fm", "target": {"resolution": 16}}' target '{"resolution": 16}'
accepted '{"dataset": "fm", "loss": {"type": "smooth_l1", "beta": 0.5, "scope": "full"}}' loss \
  '{"type": "smooth_l1", "scope": "full", "beta": 0.5, "bins": null, "palette": null}'
accepted '{"dataset": "fm", "loss": {"type": "bins", "bins": 8}, "target": {"resolution": 8}}' loss \
  '{"type": "bins", "scope": "masked", "beta": null, "bins": 8, "palette": null}'
accepted '{"dataset": "fm", "loss": {"type": "palette", "palette": 16}}' loss \
  '{"type": "palette", "scope": "masked", "beta": null, "bins": null, "palette": 16}'
accepted '{"dataset": "fm", "train": {"max_memory_mb": 4096}}' train.max_memory_mb 4096
exit $((failures > 0))
