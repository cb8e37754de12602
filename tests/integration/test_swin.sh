#!/usr/bin/env bash
# A Swin Transformer through the daemon (issue 28; docs/job-spec.md model): bad Swin specs are
# refused with 400 naming the field and nothing stored; a small Swin pretraining succeeds with
# its events, previews and contract-conforming checkpoints, the job and its checkpoints saying
# arch swin; a fine-tuning from it succeeds with a top-1, and paused and resumed gives the same
# weights bit for bit; simmim-eval on the downloaded checkpoint finds the job's top-1 and loss;
# the checkpoint loads with strict key matching into a PyTorch Swin with timm's names
# (tests/integration/swin_timm.py), which finds the same top-1. Prints "ok - ..." / "not ok - ..."
# lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/daemon_client.sh
fm_session 400 100

# --- bad Swin specs: 400 naming the field, nothing stored -----------------------------------
swin='"arch": "swin", "patch_size": 4, "embed_dim": 32'
refused 400 model.window_size "{\"model\": {$swin, \"window_size\": 3, \"depths\": [2, 2], \"num_heads\": [2, 4]}}" \
  "stage 0's resolution 8"
refused 400 model.num_heads "{\"model\": {$swin, \"depths\": [2, 2], \"num_heads\": [2, 4, 8]}}" \
  "one entry per stage"
refused 400 model.img_size "{\"model\": {$swin, \"img_size\": 36, \"depths\": [2, 2], \"num_heads\": [2, 4]}}" \
  "stride"
refused 400 'model.num_heads[1]' "{\"model\": {$swin, \"depths\": [2, 2], \"num_heads\": [2, 3]}}" \
  "stage 1's width"
refused 400 model.depth "{\"model\": {$swin, \"depth\": 4}}" 'model.arch "vit"'
refused 400 model.depths '{"model": {"depths": [2, 2]}}' 'model.arch "swin"'
refused 400 model.preset '{"model": {"arch": "vit", "preset": "swin-fmnist"}}' '"swin" model'

# --- pretraining ------------------------------------------------------------------------------
model="\"model\": {$swin, \"window_size\": 4, \"depths\": [2, 2], \"num_heads\": [2, 4]}"
schedule='"schedule": {"progress_every_steps": 4, "checkpoint_every_steps": 8, "preview_every_steps": 8}'
pre=$(api POST /api/v1/jobs "{\"dataset\": \"fm\", $model, $schedule,
  \"train\": {\"epochs\": 2, \"batch_size\": 50, \"threads\": 2}}" | json id)
check "a Swin pretraining is accepted" $([ "$(status)" = 201 ] && echo 1 || echo 0) "$(status) $(head -c 300 "$tmp/body")"
wait_state "$pre" succeeded 180
job=$(api GET "/api/v1/jobs/$pre")
check "it succeeds" $([ "$(echo "$job" | json state)" = succeeded ] && echo 1 || echo 0) \
  "$(echo "$job" | json state) $(echo "$job" | json error)"
check "the job says arch swin, its spec the Swin's fields" \
  $([ "$(echo "$job" | json arch)" = swin ] && [ "$(echo "$job" | json spec.model.depths)" = "[2, 2]" ] &&
    [ "$(echo "$job" | json spec.model.window_size)" = 4 ] && [ -z "$(echo "$job" | json spec.model.depth)" ] &&
    [ "$(echo "$job" | json spec.mask.mask_patch_size)" = 8 ] && echo 1 || echo 0) "$(echo "$job" | json spec.model)"
events=$(api GET "/api/v1/jobs/$pre/metrics?since=0")
check "its progress and evaluations reach the metrics: the loss falls" \
  $(echo "$events" | python3 -c 'import json,sys; m=json.load(sys.stdin)["metrics"]; l=[r["loss"] for r in m if "loss" in r]; v=[r for r in m if "val_loss" in r]; print(int(len(l) == 4 and l[-1] < l[0] and len(v) == 2))') \
  "$(echo "$events" | head -c 300)"
previews=$(api GET "/api/v1/jobs/$pre/previews" | json total)
curl -s "$base/api/v1/jobs/$pre/preview.png" -o "$tmp/preview.png"
check "previews at steps 8 and 16, served as PNG" \
  $([ "$previews" = 2 ] && [ "$(head -c 8 "$tmp/preview.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ] && echo 1 || echo 0) \
  "$previews previews"
ckpt=$(api GET "/api/v1/jobs/$pre/checkpoints")
check "its checkpoints say arch swin" \
  $([ "$(echo "$ckpt" | json checkpoints.0.arch)" = swin ] && [ "$(echo "$ckpt" | json checkpoints.0.step)" = 16 ] &&
    echo 1 || echo 0) "$(echo "$ckpt" | head -c 300)"
curl -s "$base/api/v1/checkpoints/$(echo "$ckpt" | json checkpoints.0.id)/download" -o "$tmp/pre.safetensors"
out=$(python3 tests/integration/check_checkpoint.py "$tmp/pre.safetensors")
check "the pretraining checkpoint has timm's Swin tensors, mask_token and the decoder" \
  $([ $? = 0 ] && echo 1 || echo 0) "$out"

# --- fine-tuning, and the same paused and resumed -------------------------------------------
finetune="{\"kind\": \"finetune\", \"dataset\": \"fm\", \"finetune\": {\"init_from\": $pre},
  \"train\": {\"epochs\": 3, \"batch_size\": 50, \"threads\": 2}, $schedule}"
ft=$(api POST /api/v1/jobs "$finetune" | json id)
wait_state "$ft" succeeded 180
job=$(api GET "/api/v1/jobs/$ft")
top1=$(echo "$job" | json metrics.top1)
val_loss=$(echo "$job" | json metrics.val_loss)
check "a fine-tuning from it succeeds, arch swin from the checkpoint, with a top-1" \
  $([ "$(echo "$job" | json state)" = succeeded ] && [ "$(echo "$job" | json arch)" = swin ] && [ -n "$top1" ] &&
    echo 1 || echo 0) "$(echo "$job" | json state) top1 $top1 $(echo "$job" | json error)"
refused 400 model.arch "{\"kind\": \"finetune\", \"dataset\": \"fm\", \"finetune\": {\"init_from\": $pre},
  \"model\": {\"arch\": \"vit\"}}" "the starting checkpoint has swin"
ft_ckpt=$(api GET "/api/v1/jobs/$ft/checkpoints")
curl -s "$base/api/v1/checkpoints/$(echo "$ft_ckpt" | json checkpoints.0.id)/download" -o "$tmp/ft.safetensors"
out=$(python3 tests/integration/check_checkpoint.py "$tmp/ft.safetensors")
check "the fine-tuning checkpoint has timm's Swin tensors, norm and head.fc" $([ $? = 0 ] && echo 1 || echo 0) "$out"

again=$(api POST /api/v1/jobs "$finetune" | json id)
for _ in $(seq 600); do
  [ "$(api GET "/api/v1/jobs/$again" | json progress.step)" -ge 4 ] 2>/dev/null && break
  sleep 0.1
done
api POST "/api/v1/jobs/$again/pause" > /dev/null
paused=$(wait_state "$again" paused 60 && api GET "/api/v1/jobs/$again" | json progress.step)
api POST "/api/v1/jobs/$again/resume" > /dev/null
wait_state "$again" succeeded 180
curl -s "$base/api/v1/checkpoints/$(api GET "/api/v1/jobs/$again/checkpoints" | json checkpoints.0.id)/download" \
  -o "$tmp/again.safetensors"
# The files differ in their metadata (the job id); the weights after the header must not.
weights() { python3 -c 'import struct,sys; d=open(sys.argv[1],"rb").read(); print(d[8 + struct.unpack("<Q", d[:8])[0]:].hex())' "$1" | sha256sum; }
check "paused at step ${paused:-?} and resumed, the fine-tuning ends with the same weights" \
  $([ -n "$paused" ] && [ "$paused" -lt 24 ] && [ "$(weights "$tmp/ft.safetensors")" = "$(weights "$tmp/again.safetensors")" ] &&
    echo 1 || echo 0) "$(weights "$tmp/ft.safetensors") $(weights "$tmp/again.safetensors")"

# --- simmim-eval and a PyTorch Swin with timm's names ------------------------------------------
ours=$(build/simmim-eval --checkpoint "$tmp/ft.safetensors" --format idx --data "$tmp/data/fm" --threads 2)
check "simmim-eval finds the job's top-1 and validation loss" \
  $(python3 -c 'import json,sys; e=json.loads(sys.argv[1]); print(int(e["top1"] == float(sys.argv[2]) and abs(e["val_loss"] - float(sys.argv[3])) < 1e-5))' \
    "$ours" "$top1" "$val_loss" 2>/dev/null || echo 0) "$ours; job top1 $top1 val_loss $val_loss"
if /usr/bin/python3 -c 'import torch' 2> /dev/null; then
  timm=$(/usr/bin/python3 tests/integration/swin_timm.py "$tmp/ft.safetensors" "$tmp/data/fm" 2>&1)
  check "timm's Swin names load the fine-tuning checkpoint strictly and give its top-1 and loss" \
    $(python3 -c 'import json,sys; a=json.loads(sys.argv[1]); b=json.loads(sys.argv[2]); print(int(a["top1"] == b["top1"] and abs(a["val_loss"] - b["val_loss"]) < 1e-4))' \
      "$timm" "$ours" 2>/dev/null || echo 0) "PyTorch $timm; simmim-eval $ours"
else
  echo "ok - timm's Swin names load the fine-tuning checkpoint strictly: SKIP (no python3-torch; deploy/deps.sh --dev)"
fi
# --- studies of a Swin: every preset in the Swin's terms, a tiny one run to its table --------
# A shrunk swin-fmnist: 32 pixels, 2-pixel patches, 3 stages (stride 8, output grid T = 4), 12
# wide. Each preset's grid is accepted whole — every job checked as POST /api/v1/jobs checks it —
# mask cells the multiples of the stride, resolutions T … img; then cancelled.
tiny='"model": {"arch": "swin", "embed_dim": 12, "depths": [1, 1, 1], "num_heads": [1, 2, 4]}'
steps='"schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 3, "preview_every_steps": 3}'
study_pre="{\"dataset\": \"fm\", $tiny, $steps, \"train\": {\"epochs\": 1, \"max_steps\": 3, \"batch_size\": 16, \"threads\": 1}}"
study_ft="{\"dataset\": \"fm\", $steps, \"train\": {\"epochs\": 1, \"max_steps\": 3, \"batch_size\": 16, \"threads\": 1}}"
declare -A want=([mask-ratio]="0.1 0.2 0.3 0.4 0.5 0.6 0.7 0.8 0.9" [mask-type]="random square block"
  [mask-patch]="8 16" [decoder]="linear mlp transformer" [resolution]="4 8 16 32"
  [loss]="l1 l2 smooth_l1 bins" [scope]="masked full")
for preset in mask-ratio mask-type mask-patch decoder resolution loss scope; do
  out=$(api POST /api/v1/studies "{\"preset\": \"$preset\", \"pretrain\": $study_pre, \"finetune\": $study_ft, \"baseline\": true}")
  got=$(echo "$out" | python3 -c '
import json, sys
s = json.load(sys.stdin)
v = s["axes"][0]["values"]
print(" ".join(str(x["type"] if isinstance(x, dict) else x) for x in v), s["jobs_total"] == 2 * len(v) + 1)' 2>/dev/null)
  check "a Swin study of preset $preset: every job accepted, in the Swin's terms" \
    $([ "$(status)" = 201 ] && [ "$got" = "${want[$preset]} True" ] && echo 1 || echo 0) "$(status) $got $(echo "$out" | head -c 300)"
  api POST "/api/v1/studies/$(echo "$out" | json id)/cancel" > /dev/null
done

# The resolution study run to its end: a pretraining per resolution (4 and 8 below the 16×16
# patch grid: the loss's mask pooled), a fine-tuning from each, the baseline the same Swin from
# scratch with layer_decay 1.0.
out=$(api POST /api/v1/studies "{\"name\": \"swin-res\", \"preset\": \"resolution\", \"pretrain\": $study_pre, \"finetune\": $study_ft, \"baseline\": true}")
sid=$(echo "$out" | json id)
wait_for_state "/api/v1/studies/$sid" succeeded 240
ok=$?
api GET "/api/v1/studies/$sid" > "$tmp/study.json"
api GET "/api/v1/studies/$sid/table.md" > "$tmp/study.md"
check "a tiny Swin resolution study runs to its table" \
  $([ $ok = 0 ] && [ "$(json cells_done < "$tmp/study.json")" = 4 ] && echo 1 || echo 0) \
  "$(json state < "$tmp/study.json"), $(json cells_done < "$tmp/study.json") of 4 cells"
out=$(python3 - "$tmp/study.json" "$tmp/study.md" "$base" "$tmp" <<'PY'
import json, math, struct, sys, urllib.request
study, md, base, tmp = json.load(open(sys.argv[1])), open(sys.argv[2]).read(), sys.argv[3], sys.argv[4]
get = lambda path: json.load(urllib.request.urlopen(base + path))
def tensor_count(job_id):  # the elements of the job's newest checkpoint's tensors
    path = f"{tmp}/ckpt-{job_id}.safetensors"
    urllib.request.urlretrieve(base + get(f"/api/v1/jobs/{job_id}/checkpoints")["checkpoints"][0]["download"], path)
    data = open(path, "rb").read()
    header = json.loads(data[8:8 + struct.unpack("<Q", data[:8])[0]])
    return sum(math.prod(t["shape"]) for k, t in header.items() if k != "__metadata__")
problems, params = [], []
swin = lambda j: j["arch"] == "swin" and j["spec"]["model"]["depths"] == [1, 1, 1] and j["spec"]["model"]["embed_dim"] == 12
for row in study["rows"]:
    r = row["values"]["pretrain.target.resolution"]
    pre, ft = get(f"/api/v1/jobs/{row['job_ids']['pretrain'][0]}"), get(f"/api/v1/jobs/{row['job_ids']['finetune'][0]}")
    if not (swin(pre) and swin(ft)): problems.append(f"r {r}: not the study's Swin")
    if pre["spec"]["target"]["resolution"] != r or not pre["metrics"]["loss"] > 0: problems.append(f"r {r}: pretraining {pre['spec']['target']} loss {pre['metrics'].get('loss')}")
    if ft["init_checkpoint_id"] is None or ft["spec"]["finetune"]["layer_decay"] != 0.75: problems.append(f"r {r}: fine-tuning")
    if row["top1"] != [ft["metrics"]["top1"]]: problems.append(f"r {r}: top1 {row['top1']} vs {ft['metrics']}")
    if row["params"] != tensor_count(pre["id"]): problems.append(f"r {r}: params {row['params']} vs the checkpoint's tensors")
    if abs(row["pretrain_wall_s"] - pre["duration_s"]) > 1e-6 or not row["img_per_s"] > 0: problems.append(f"r {r}: cost")
    if f"| {r} | {row['top1_mean']:.2f} |" not in md or f"| {row['params']} |" not in md: problems.append(f"r {r}: md")
    params.append(row["params"])
# the linear decoder maps the last stage's 48 channels to (r / T)² outputs a token: 49
# parameters an output, 1 at r = 4 … 64 at r = 32
if [p - params[0] for p in params] != [0, 3 * 49, 15 * 49, 63 * 49]: problems.append(f"params {params}")
b = get(f"/api/v1/jobs/{study['baseline_row']['job_ids']['finetune'][0]}")
if not swin(b) or b["init_checkpoint_id"] is not None or b["spec"]["finetune"]["layer_decay"] != 1.0 or study["baseline_row"]["top1"] != [b["metrics"]["top1"]]:
    problems.append(f"baseline {b['arch']} {b['init_checkpoint_id']} {b['spec']['finetune']['layer_decay']}")
print(f"params {params}:", "; ".join(problems) or "all agree")
PY
)
check "its jobs are the study's Swin (the baseline from scratch, layer_decay 1.0); rows, params and cost are theirs" \
  $(echo "$out" | grep -q 'all agree$' && echo 1 || echo 0) "$out"
head -7 "$tmp/study.md"
exit $((failures > 0))
