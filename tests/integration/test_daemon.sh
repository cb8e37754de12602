#!/usr/bin/env bash
# simmimd end to end on a free loopback port, driven with curl: the full path (pretrain →
# download + sha256 → preview → fine-tune → top-1), kill -9 and restart, bad input with the
# right status and no change to the database, the token, API latency while a job trains,
# and Server-Sent Events. Prints "ok - ..." / "not ok - ..." lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)
. tests/integration/daemon_client.sh
daemon_session


mkdir -p "$tmp/data"
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" 2000 500


start_daemon --data-root "$tmp/data"
report "daemon starts and answers /health" $([ "$(api GET /api/v1/health | json db)" = ok ] && echo 1 || echo 0) "$(cat "$tmp/body")"
machine=$(python3 -c 'import json, sys; m = json.load(open(sys.argv[1]))["machine"]; print(m["cores"], round(m["memory_mb"]), m["bf16"])' "$tmp/body")
bf16_here=None
grep -qw avx512_bf16 /proc/cpuinfo && bf16_here=avx512-bf16
grep -qw amx_bf16 /proc/cpuinfo && bf16_here="avx512-bf16 or amx" # amx when the kernel grants the tiles
read -r cores memory_mb bf16 <<< "$machine"
report "/health says the machine's cores, memory and bf16 engine" \
  $([ "$cores" -ge 1 ] && [ "$memory_mb" -gt 0 ] && [[ "$bf16_here" == *"$bf16"* ]] && echo 1 || echo 0) \
  "cores $cores, memory ${memory_mb} MB, bf16 $bf16 (this processor: $bf16_here)"
reg=$(api POST /api/v1/datasets "{\"name\": \"fm-small\", \"format\": \"idx\", \"path\": \"$tmp/data/fm\"}")
report "dataset registration" $([ "$(status)" = 201 ] && [ "$(echo "$reg" | json train_count)" = 2000 ] && echo 1 || echo 0) "$(status) $reg"
curl -s -o "$tmp/sample.png" "$base/api/v1/datasets/fm-small/sample.png"
report "dataset sample PNG" $(head -c 4 "$tmp/sample.png" | grep -q PNG && echo 1 || echo 0) "$(stat -c %s "$tmp/sample.png") bytes"

# --- SSE listener for the whole run ---
curl -s -N "$base/api/v1/events" > "$tmp/sse.txt" &
sse_pid=$!

# --- the full path ----------------------------------------------------------------------
small='"model": {"embed_dim": 64, "depth": 2, "num_heads": 2}'
pre=$(api POST /api/v1/jobs "{\"kind\": \"pretrain\", \"dataset\": \"fm-small\", $small,
  \"train\": {\"epochs\": 3, \"batch_size\": 50, \"threads\": 2},
  \"schedule\": {\"progress_every_steps\": 10, \"checkpoint_every_steps\": 40, \"preview_every_steps\": 40}}")
pre_id=$(echo "$pre" | json id)
report "submit a pretraining job" $([ "$(status)" = 201 ] && [ -n "$pre_id" ] && echo 1 || echo 0) "$(status) id $pre_id"
wait_state "$pre_id" succeeded 180
report "pretraining job succeeds" $([ $? = 0 ] && echo 1 || echo 0) "$(api GET /api/v1/jobs/$pre_id | json state)"
ckpts=$(api GET "/api/v1/jobs/$pre_id/checkpoints")
cid=$(echo "$ckpts" | python3 -c 'import json,sys; c=json.load(sys.stdin)["checkpoints"]; print(max(c, key=lambda x: x["step"])["id"])')
sha=$(api GET "/api/v1/checkpoints/$cid" | json sha256)
curl -s -D "$tmp/headers" -o "$tmp/ckpt.safetensors" "$base/api/v1/checkpoints/$cid/download"
got=$(sha256sum "$tmp/ckpt.safetensors" | cut -d' ' -f1)
report "download matches the listed sha256" $([ -n "$sha" ] && [ "$sha" = "$got" ] && echo 1 || echo 0) "$sha"
len=$(grep -i '^content-length' "$tmp/headers" | tr -d '\r' | awk '{print $2}')
report "download has Content-Length and ETag" \
  $([ "$len" = "$(stat -c %s "$tmp/ckpt.safetensors")" ] && grep -qi '^etag: "'"$sha"'"' "$tmp/headers" && echo 1 || echo 0) "$len bytes"
curl -s -H 'Range: bytes=0-7' -o "$tmp/range" -w '%{http_code}' "$base/api/v1/checkpoints/$cid/download" > "$tmp/status"
report "download honours Range" $([ "$(status)" = 206 ] && cmp -s "$tmp/range" <(head -c 8 "$tmp/ckpt.safetensors") && echo 1 || echo 0) "$(status)"
out=$(python3 tests/integration/check_checkpoint.py "$tmp/ckpt.safetensors")
report "downloaded checkpoint conforms to the contract" $([ $? = 0 ] && echo 1 || echo 0) "$out"
steps=$(api GET "/api/v1/jobs/$pre_id/previews")
curl -s -o "$tmp/preview.png" -w '%{http_code} %{content_type}' "$base/api/v1/jobs/$pre_id/preview.png" > "$tmp/status"
report "preview PNG" $(grep -q '200 image/png' "$tmp/status" && head -c 4 "$tmp/preview.png" | grep -q PNG && echo 1 || echo 0) "$(status); previews $steps"
ft=$(api POST /api/v1/jobs "{\"kind\": \"finetune\", \"dataset\": \"fm-small\",
  \"train\": {\"epochs\": 3, \"batch_size\": 50, \"lr\": 3e-3, \"threads\": 2},
  \"augment\": {\"crop_scale\": [1.0, 1.0], \"crop_ratio\": [1.0, 1.0], \"hflip\": false},
  \"finetune\": {\"init_from\": $pre_id, \"layer_decay\": 1.0}}")
ft_id=$(echo "$ft" | json id)
report "submit a fine-tuning job from the pretraining job" $([ "$(status)" = 201 ] && echo 1 || echo 0) "$(status) $(echo "$ft" | head -c 200)"
wait_state "$ft_id" succeeded 180
top1=$(api GET "/api/v1/jobs/$ft_id" | json metrics.top1)
report "fine-tuning succeeds and reports its top-1" $([ -n "$top1" ] && python3 -c "print(int($top1 > 20))" || echo 0) "top-1 $top1%"
kill $sse_pid 2>/dev/null
report "SSE stream carries progress and the final state change" \
  $(grep -q '^event: progress' "$tmp/sse.txt" && grep -q '"succeeded"' "$tmp/sse.txt" && echo 1 || echo 0) \
  "$(grep -c '^event:' "$tmp/sse.txt") events"

# --- bad input: right status, JSON error, no change -----------------------------------------
before=$(api GET "/api/v1/jobs?limit=1000"; api GET /api/v1/datasets)
bad() { # bad NAME EXPECTED_STATUS CODE METHOD PATH [BODY]
  local name=$1 want=$2 code=$3
  shift 3
  local body
  body=$(api "$@")
  local got_code
  got_code=$(echo "$body" | json error.code 2>/dev/null)
  report "bad input: $name" $([ "$(status)" = "$want" ] && [ "$got_code" = "$code" ] && echo 1 || echo 0) "$(status) $body"
}
bad "malformed JSON" 400 invalid POST /api/v1/jobs '{"kind": "pretrain",'
bad "unknown field" 400 invalid POST /api/v1/jobs '{"trian": {}}'
bad "wrong type" 400 invalid POST /api/v1/jobs '{"train": {"epochs": "ten"}}'
bad "out-of-range value" 400 invalid POST /api/v1/jobs '{"train": {"lr": -1}}'
bad "unknown precision" 400 invalid POST /api/v1/jobs '{"dataset": "fm-small", "train": {"precision": "fp16"}}'
if ! grep -qw avx512_bf16 /proc/cpuinfo; then # a processor (or kernel) without AVX512-BF16 (AMX implies it)
  bad "bf16 where the processor cannot run it" 400 invalid POST /api/v1/jobs \
    '{"dataset": "fm-small", "train": {"precision": "bf16"}}'
fi
bad "unknown dataset" 404 not_found POST /api/v1/jobs '{"dataset": "no-such-set"}'
bad "a %00 in the path (it once served /index.html for /index.html%00.png)" 400 invalid GET '/index.html%00.png'
bad "a %00 in an id" 400 invalid GET '/api/v1/jobs/1%00'
bad "a path that is not UTF-8 (it once got no answer at all)" 404 not_found GET '/api/v1/%9F%9F'
bad "init_from pointing at nothing" 404 not_found POST /api/v1/jobs '{"kind": "finetune", "finetune": {"init_from": 99999}}'
bad "init_from a fine-tuning job" 409 conflict POST /api/v1/jobs "{\"kind\": \"finetune\", \"dataset\": \"fm-small\", \"finetune\": {\"init_from\": $ft_id}}"
head -c 1100000 /dev/zero | tr '\0' ' ' > "$tmp/big.json"
curl -s -o "$tmp/body" -w '%{http_code}' -H 'Content-Type: application/json' --data-binary @"$tmp/big.json" "$base/api/v1/jobs" > "$tmp/status"
report "bad input: body over 1 MiB" $([ "$(status)" = 413 ] && [ "$(json error.code < "$tmp/body")" = too_large ] && echo 1 || echo 0) "$(status) $(cat "$tmp/body")"
bad "unknown job" 404 not_found GET /api/v1/jobs/99999
bad "resuming a finished job" 409 conflict POST "/api/v1/jobs/$pre_id/resume"
mkdir -p "$tmp/outside/fm" && cp "$tmp/data/fm/"* "$tmp/outside/fm/" && ln -s "$tmp/outside/fm" "$tmp/data/link"
bad "dataset outside the data roots" 403 forbidden POST /api/v1/datasets "{\"name\": \"x1\", \"format\": \"idx\", \"path\": \"$tmp/outside/fm\"}"
bad "dataset path through .." 403 forbidden POST /api/v1/datasets "{\"name\": \"x2\", \"format\": \"idx\", \"path\": \"$tmp/data/../outside/fm\"}"
bad "dataset through a symlink" 403 forbidden POST /api/v1/datasets "{\"name\": \"x3\", \"format\": \"idx\", \"path\": \"$tmp/data/link\"}"
after=$(api GET "/api/v1/jobs?limit=1000"; api GET /api/v1/datasets)
report "bad input leaves the database unchanged" $([ "$before" = "$after" ] && echo 1 || echo 0) "jobs and datasets compared"

# --- responsiveness while a job keeps both cores busy ------------------------------------------
busy=$(api POST /api/v1/jobs "{\"kind\": \"pretrain\", \"dataset\": \"fm-small\", \"train\": {\"epochs\": 50, \"batch_size\": 100, \"threads\": 2}}")
busy_id=$(echo "$busy" | json id)
wait_state "$busy_id" running 30
sleep 2
urls=()
for _ in $(seq 500); do urls+=(-o /dev/null "$base/api/v1/jobs"); done
curl -s -w '%{time_total}\n' "${urls[@]}" > "$tmp/latency"
lat=$(python3 -c '
import sys
v = sorted(float(x) * 1000 for x in open(sys.argv[1]))
print(f"{v[len(v)//2]:.2f} {v[int(len(v)*0.99)-1]:.2f} {len(v)}")' "$tmp/latency")
read -r p50 p99 n <<< "$lat"
report "API latency while training: p50/p99 of $n GET /api/v1/jobs" $(python3 -c "print(int($p99 < 50))") "p50 ${p50} ms, p99 ${p99} ms"
# A fine-tuning job queued behind it keeps its starting checkpoint even if the source file
# goes (rotated away by keep_checkpoints, or its job deleted) before it starts.
queued_ft=$(api POST /api/v1/jobs "{\"kind\": \"finetune\", \"dataset\": \"fm-small\",
  \"train\": {\"epochs\": 1, \"batch_size\": 100, \"threads\": 2}, \"finetune\": {\"init_from\": $pre_id}}" | json id)
src=$(ls "$state/runs/$pre_id/checkpoints/"step-*.safetensors | tail -n 1)
mv "$src" "$tmp/moved.safetensors"
api POST "/api/v1/jobs/$busy_id/cancel" > /dev/null
wait_state "$busy_id" cancelled 60
report "cancel a running job" $([ $? = 0 ] && echo 1 || echo 0) "$(api GET /api/v1/jobs/$busy_id | json state)"
wait_state "$queued_ft" succeeded 120
report "a queued fine-tuning job keeps its starting checkpoint when the source file goes" \
  $([ $? = 0 ] && echo 1 || echo 0) "$(api GET /api/v1/jobs/$queued_ft | json state) $(api GET /api/v1/jobs/$queued_ft | json error)"
mv "$tmp/moved.safetensors" "$src"
for _ in $(seq 50); do
  pins=$(find "$state/pinned" -name '*.safetensors' | wc -l)
  [ "$pins" = 0 ] && break
  sleep 0.1
done
report "a pinned starting checkpoint is released once no unfinished job starts from it" \
  $([ "$pins" = 0 ] && echo 1 || echo 0) "$pins pinned files left"

# --- kill -9 and restart ----------------------------------------------------------------
long=$(api POST /api/v1/jobs "{\"kind\": \"pretrain\", \"dataset\": \"fm-small\", $small,
  \"train\": {\"epochs\": 4, \"batch_size\": 50, \"threads\": 2},
  \"schedule\": {\"progress_every_steps\": 10, \"checkpoint_every_steps\": 30, \"preview_every_steps\": 1000}}")
long_id=$(echo "$long" | json id)
for _ in $(seq 600); do
  step=$(api GET "/api/v1/jobs/$long_id" | json progress.step)
  [ "${step:-0}" -ge 50 ] 2>/dev/null && break
  sleep 0.1
done
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
start_daemon --data-root "$tmp/data"
wait_state "$long_id" succeeded 180
ok=$?
resumed=$(grep -c '"resumed_from_step":[1-9]' "$state/runs/$long_id/events.jsonl")
report "after kill -9 and a restart the job resumes from a checkpoint and succeeds" \
  $([ $ok = 0 ] && [ "$resumed" -ge 1 ] && echo 1 || echo 0) "state $(api GET /api/v1/jobs/$long_id | json state), $resumed resumed start(s)"
steps=$(api GET "/api/v1/jobs/$long_id/metrics" | python3 -c '
import json, sys
m = [x for x in json.load(sys.stdin)["metrics"] if "loss" in x]
print(" ".join(str(x["step"]) for x in m))')
expected=$(seq -s ' ' 10 10 160)
report "no metric step lost or stored twice" $([ "$steps" = "$expected" ] && echo 1 || echo 0) "progress steps: $steps"

# --- pause and resume; SIGTERM of the daemon mid-job ----------------------------------------
wait_step() { # wait_step JOB STEP: until the job's progress reaches STEP
  for _ in $(seq 600); do
    local step
    step=$(api GET "/api/v1/jobs/$1" | json progress.step)
    [ "${step:-0}" -ge "$2" ] 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
paused=$(api POST /api/v1/jobs "{\"kind\": \"pretrain\", \"dataset\": \"fm-small\", $small,
  \"train\": {\"epochs\": 3, \"batch_size\": 50, \"threads\": 2}, \"schedule\": {\"progress_every_steps\": 10}}" | json id)
wait_step "$paused" 30
api POST "/api/v1/jobs/$paused/pause" > /dev/null
pause_status=$(status)
wait_state "$paused" paused 60
report "pause: the job checkpoints and stops" $([ $? = 0 ] && [ "$(api GET /api/v1/jobs/$paused/checkpoints | json total)" -ge 1 ] && echo 1 || echo 0) \
  "pause answered $pause_status; checkpoints $(api GET /api/v1/jobs/$paused/checkpoints | json total)"
api POST "/api/v1/jobs/$paused/resume" > /dev/null
wait_state "$paused" succeeded 120
report "resume: the paused job continues from its checkpoint and succeeds" \
  $([ $? = 0 ] && grep -q '"resumed_from_step":[1-9]' "$state/runs/$paused/events.jsonl" && echo 1 || echo 0) \
  "$(grep -o '"resumed_from_step":[0-9]*' "$state/runs/$paused/events.jsonl" | tr '\n' ' ')"
logs=$(api GET "/api/v1/jobs/$paused/logs?tail=3")
report "logs?tail=3" $([ "$(status)" = 200 ] && echo 1 || echo 0) "$(echo "$logs" | head -c 200)"
curl -s "$base/metrics" > "$tmp/prom"
report "Prometheus text at /metrics" $(grep -q '^simmimd_jobs{state="succeeded"}' "$tmp/prom" && echo 1 || echo 0) "$(grep -c '^simmimd' "$tmp/prom") samples"
api DELETE "/api/v1/jobs/$paused" > /dev/null
report "DELETE a finished job removes it and its run dir" \
  $([ "$(status)" -lt 300 ] && [ ! -e "$state/runs/$paused" ] && api GET "/api/v1/jobs/$paused" > /dev/null && [ "$(status)" = 404 ] && echo 1 || echo 0) "$(status)"

term=$(api POST /api/v1/jobs "{\"kind\": \"pretrain\", \"dataset\": \"fm-small\", $small,
  \"train\": {\"epochs\": 3, \"batch_size\": 50, \"threads\": 2}, \"schedule\": {\"progress_every_steps\": 10}}" | json id)
wait_step "$term" 30
kill -TERM "$daemon_pid"
wait "$daemon_pid"
rc=$?
report "SIGTERM while a job trains: the daemon exits 0 and the job checkpoints" \
  $([ $rc = 0 ] && ls "$state/runs/$term/checkpoints/"*.safetensors > /dev/null 2>&1 && echo 1 || echo 0) "exit $rc"
start_daemon --data-root "$tmp/data"
wait_state "$term" succeeded 120
report "after a restart the stopped job resumes and succeeds" \
  $([ $? = 0 ] && grep -q '"resumed_from_step":[1-9]' "$state/runs/$term/events.jsonl" && echo 1 || echo 0) "$(api GET /api/v1/jobs/$term | json state)"

# --- token ------------------------------------------------------------------------------
kill -TERM "$daemon_pid"; wait "$daemon_pid" 2>/dev/null
start_daemon --data-root "$tmp/data" --token s3cret
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
report "token: missing → 401" $([ "$(code "$base/api/v1/jobs")" = 401 ] && echo 1 || echo 0) ""
report "token: wrong → 401" $([ "$(code -H 'Authorization: Bearer nope' "$base/api/v1/jobs")" = 401 ] && echo 1 || echo 0) ""
report "token: Bearer → 200" $([ "$(code -H 'Authorization: Bearer s3cret' "$base/api/v1/jobs")" = 200 ] && echo 1 || echo 0) ""
report "token: ?access_token= on a GET → 200" $([ "$(code "$base/api/v1/jobs?access_token=s3cret")" = 200 ] && echo 1 || echo 0) ""
report "token: ?access_token= on a POST → 401" $([ "$(code -X POST -d '{}' "$base/api/v1/jobs?access_token=s3cret")" = 401 ] && echo 1 || echo 0) ""
kill -TERM "$daemon_pid"
wait "$daemon_pid"
report "SIGTERM: the daemon exits 0" $([ $? = 0 ] && echo 1 || echo 0) ""
daemon_pid=
