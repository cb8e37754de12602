#!/usr/bin/env bash
# A checkpoint whose file no longer hashes to the sha256 recorded when it was written (a byte
# flipped on disk) is never served, pinned or trained from (docs/checkpoints.md#integrity):
# simmim-train --resume falls back to the newest good checkpoint with a checkpoint_corrupt
# event and ends bit-identical to a run resumed from that one; a fine-tuning whose init_from
# does not hash to its sha256 (the spec's, or its run dir's record) fails naming both; the
# daemon answers a download and a fine-tuning from it with 409 naming both hashes, shows it
# "corrupt", passes the hash of a good starting checkpoint to its trainer, and serves the
# file again once it matches. Prints "ok - ..." / "not ok - ..." lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
train=build/simmim-train
. tests/integration/daemon_client.sh
daemon_session

events_of() { # events_of FILE NAME → those event lines
  grep "\"event\":\"$2\"" "$1"
}
field() { # field JSON KEY ("" when it is not JSON)
  python3 -c 'import json,sys; print(json.loads(sys.argv[1]).get(sys.argv[2], ""))' "$1" "$2" 2>/dev/null
}
sha_of() { sha256sum "$1" | cut -d' ' -f1; }
flip() { python3 tests/integration/tamper_checkpoint.py "$1" "$1" flip; }

mkdir -p "$tmp/data"
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" 1000 200
data="{\"format\": \"idx\", \"path\": \"$tmp/data/fm\"}"
small='"model": {"embed_dim": 64, "depth": 2, "num_heads": 2}'

# --- simmim-train --resume past a corrupt checkpoint ------------------------------------------
# 1000 images, batch 50: 20 steps an epoch, 40 in all; checkpoints every 10. The first run
# stops at 30 (max_steps leaves the schedule as it is); the others go on to 40.
spec() { # spec [TRAIN_EXTRA]
  echo "{\"kind\": \"pretrain\", \"dataset\": $data, $small,
   \"train\": {\"epochs\": 2, \"batch_size\": 50, \"seed\": 5, \"threads\": 2 $1},
   \"schedule\": {\"progress_every_steps\": 10, \"checkpoint_every_steps\": 10,
                  \"preview_every_steps\": 1000, \"keep_checkpoints\": 5}}"
}
spec ', "max_steps": 30' > "$tmp/first.json"
spec '' > "$tmp/whole.json"
$train --spec "$tmp/first.json" --run-dir "$tmp/first" > /dev/null 2> "$tmp/first.err"
rc=$?
report "a run to step 30 with checkpoints at 10, 20 and 30" \
  $([ $rc = 0 ] && [ -f "$tmp/first/checkpoints/step-30.safetensors" ] && echo 1 || echo 0) "exit $rc; $(tail -n 1 "$tmp/first.err")"
sha30=$(sha_of "$tmp/first/checkpoints/step-30.safetensors")
# The reference: the same run dir without step 30, resumed from step 20.
cp -a "$tmp/first" "$tmp/from20"
rm "$tmp/from20/checkpoints/step-30.safetensors" "$tmp/from20/checkpoints/step-30.state"
$train --spec "$tmp/whole.json" --run-dir "$tmp/from20" --resume > /dev/null 2> "$tmp/from20.err"
# The same run dir with a byte of step 30 flipped.
cp -a "$tmp/first" "$tmp/flipped"
flip "$tmp/flipped/checkpoints/step-30.safetensors"
bad30=$(sha_of "$tmp/flipped/checkpoints/step-30.safetensors")
$train --spec "$tmp/whole.json" --run-dir "$tmp/flipped" --resume > "$tmp/flipped.out" 2> "$tmp/flipped.err"
rc=$?
ev="$tmp/flipped/events.jsonl"
corrupt=$(events_of "$ev" checkpoint_corrupt | tail -n 1)
report "--resume: a corrupt newest checkpoint is reported (checkpoint_corrupt: step, path, both hashes)" \
  $([ -n "$corrupt" ] && [ "$(field "$corrupt" step)" = 30 ] &&
     [ "$(field "$corrupt" path)" = checkpoints/step-30.safetensors ] &&
     [ "$(field "$corrupt" expected_sha256)" = "$sha30" ] && [ "$(field "$corrupt" actual_sha256)" = "$bad30" ] &&
     [ "$(field "$corrupt" resume_step)" = 20 ] && echo 1 || echo 0) "${corrupt:-no checkpoint_corrupt event}"
resumed=$(events_of "$ev" start | tail -n 1)
report "--resume: falls back to the newest good checkpoint" \
  $([ $rc = 0 ] && [ "$(field "$resumed" resumed_from_step)" = 20 ] && echo 1 || echo 0) "exit $rc; $resumed"
report "--resume: the event comes before the run's start, on stdout too" \
  $([ "$(grep -o '"event":"[a-z_]*"' "$tmp/flipped.out" | head -n 2 | tr '\n' ' ')" = '"event":"checkpoint_corrupt" "event":"start" ' ] && echo 1 || echo 0) \
  "$(grep -o '"event":"[a-z_]*"' "$tmp/flipped.out" | head -n 2 | tr '\n' ' ')"
report "--resume: the corrupt file is kept aside, and the log says so" \
  $([ "$(sha_of "$tmp/flipped/checkpoints/step-30.safetensors.corrupt")" = "$bad30" ] &&
     grep -q "step-30.safetensors is corrupt" "$tmp/flipped.err" && echo 1 || echo 0) "$(grep corrupt "$tmp/flipped.err" | head -c 300)"
report "--resume: step 30 written again as it first was" \
  $([ "$(sha_of "$tmp/flipped/checkpoints/step-30.safetensors")" = "$sha30" ] && echo 1 || echo 0) "$sha30"
report "--resume past a corrupt checkpoint ends bit-identical to a run resumed from the older one" \
  $(cmp -s "$tmp/from20/checkpoints/step-40.safetensors" "$tmp/flipped/checkpoints/step-40.safetensors" && echo 1 || echo 0) \
  "step-40.safetensors compared byte for byte"
# Every checkpoint corrupt: from scratch, each reported.
cp -a "$tmp/first" "$tmp/all"
for s in 10 20 30; do flip "$tmp/all/checkpoints/step-$s.safetensors"; done
$train --spec "$tmp/whole.json" --run-dir "$tmp/all" --resume > /dev/null 2>&1
rc=$?
report "--resume: every checkpoint corrupt → three events, a start from scratch" \
  $([ $rc = 0 ] && [ "$(events_of "$tmp/all/events.jsonl" checkpoint_corrupt | wc -l)" = 3 ] &&
     [ "$(field "$(events_of "$tmp/all/events.jsonl" start | tail -n 1)" resumed_from_step)" = 0 ] && echo 1 || echo 0) "exit $rc"

# --- a fine-tuning's starting file ----------------------------------------------------------
expect_error() { # expect_error NAME SPEC_JSON WORD...: exit ≠ 0, an error event naming each WORD
  local name=$1 spec=$2
  shift 2
  printf '%s' "$spec" > "$tmp/ft.json"
  rm -rf "$tmp/ft"
  $train --spec "$tmp/ft.json" --run-dir "$tmp/ft" > /dev/null 2> "$tmp/ft.err"
  local rc=$? ok=1 err
  err=$(events_of "$tmp/ft/events.jsonl" error)
  [ $rc != 0 ] && [ -n "$err" ] || ok=0
  for word in "$@"; do echo "$err" | grep -q -- "$word" || ok=0; done
  [ -z "$(ls "$tmp/ft/checkpoints" 2>/dev/null)" ] || ok=0
  report "fine-tuning: $name" $ok "exit $rc: $(echo "$err" | head -c 400)"
}
ft() { # ft INIT_FROM_JSON
  echo "{\"kind\": \"finetune\", \"dataset\": $data, \"train\": {\"batch_size\": 50, \"max_steps\": 2, \"threads\": 2},
   \"finetune\": {\"init_from\": $1}}"
}
good20="$tmp/first/checkpoints/step-20.safetensors"
sha20=$(sha_of "$good20")
other=0000000000000000000000000000000000000000000000000000000000000000
expect_error "init_from whose file does not hash to the spec's sha256" \
  "$(ft "{\"path\": \"$good20\", \"sha256\": \"$other\"}")" "$sha20" "$other" "corrupt"
flip "$tmp/all/checkpoints/step-20.safetensors" # (written again by the run above: good now)
expect_error "init_from in a run dir whose record it does not match (no sha256 in the spec)" \
  "$(ft "{\"path\": \"$tmp/all/checkpoints/step-20.safetensors\"}")" \
  "$(sha_of "$tmp/all/checkpoints/step-20.safetensors")" "$sha20" "checkpoint event"
printf '%s' "$(ft "{\"path\": \"$good20\", \"sha256\": \"$(echo "$sha20" | tr a-f A-F)\"}")" > "$tmp/ok.json"
$train --spec "$tmp/ok.json" --run-dir "$tmp/ok" > /dev/null 2> "$tmp/ok.err"
rc=$?
report "fine-tuning: init_from matching its sha256 trains" \
  $([ $rc = 0 ] && [ -n "$(events_of "$tmp/ok/events.jsonl" done)" ] && echo 1 || echo 0) "exit $rc; $(tail -n 1 "$tmp/ok.err")"

# --- the daemon -------------------------------------------------------------------------------
start_daemon --data-root "$tmp/data"
api POST /api/v1/datasets "{\"name\": \"fm\", \"format\": \"idx\", \"path\": \"$tmp/data/fm\"}" > /dev/null
pre=$(api POST /api/v1/jobs "{\"kind\": \"pretrain\", \"dataset\": \"fm\", $small,
  \"train\": {\"epochs\": 1, \"batch_size\": 50, \"threads\": 2},
  \"schedule\": {\"progress_every_steps\": 10, \"checkpoint_every_steps\": 10}}" | json id)
wait_state "$pre" succeeded 120
report "daemon: a pretraining job with two checkpoints" $([ $? = 0 ] && echo 1 || echo 0) "$(api GET "/api/v1/jobs/$pre" | json state)"
list=$(api GET "/api/v1/jobs/$pre/checkpoints")
cid=$(echo "$list" | json checkpoints.0.id)     # step 20, the newest
older=$(echo "$list" | json checkpoints.1.id)   # step 10
sha=$(echo "$list" | json checkpoints.0.sha256)
file="$state/runs/$pre/$(echo "$list" | json checkpoints.0.path)"
curl -s -o "$tmp/dl" -w '%{http_code}' "$base/api/v1/checkpoints/$cid/download" > "$tmp/status"
report "daemon: a good checkpoint downloads, not corrupt" \
  $([ "$(status)" = 200 ] && [ "$(sha_of "$tmp/dl")" = "$sha" ] &&
     [ "$(api GET "/api/v1/checkpoints/$cid" | json corrupt)" = False ] && echo 1 || echo 0) "$(status)"

flip "$file"
bad=$(sha_of "$file")
body=$(api GET "/api/v1/checkpoints/$cid/download" | head -c 2000 | tr -cd '[:print:]')
msg=$(echo "$body" | json error.message 2>/dev/null)
report "daemon: download of a corrupt checkpoint → 409 naming it and both hashes" \
  $([ "$(status)" = 409 ] && [ "$(echo "$body" | json error.code 2>/dev/null)" = conflict ] &&
     echo "$msg" | grep -q "checkpoint $cid " && echo "$msg" | grep -q "$sha" && echo "$msg" | grep -q "$bad" && echo 1 || echo 0) \
  "$(status) $body"
curl -s -o /dev/null -w '%{http_code}' -H 'Range: bytes=0-7' -H "If-Range: \"$sha\"" \
  "$base/api/v1/checkpoints/$cid/download" > "$tmp/status"
report "daemon: a resumed (Range) download of it → 409 too" $([ "$(status)" = 409 ] && echo 1 || echo 0) "$(status)"
report "daemon: GET the checkpoint → \"corrupt\": true" \
  $([ "$(api GET "/api/v1/checkpoints/$cid" | json corrupt)" = True ] && echo 1 || echo 0) "$(cat "$tmp/body")"
report "daemon: the job's list marks that one only" \
  $([ "$(api GET "/api/v1/jobs/$pre/checkpoints" | json checkpoints.0.corrupt)" = True ] &&
     [ "$(api GET "/api/v1/jobs/$pre/checkpoints" | json checkpoints.1.corrupt)" = False ] && echo 1 || echo 0) "$(cat "$tmp/body" | head -c 300)"
before=$(api GET "/api/v1/jobs?limit=1000")
finetune() { # finetune INIT_FROM_JSON [TRAIN_EXTRA]
  api POST /api/v1/jobs "{\"kind\": \"finetune\", \"dataset\": \"fm\",
    \"train\": {\"batch_size\": 50, \"threads\": 2 ${2:-}}, \"finetune\": {\"init_from\": $1}}"
}
body=$(finetune "{\"checkpoint\": $cid}")
msg=$(echo "$body" | json error.message 2>/dev/null)
report "daemon: a fine-tuning from it → 409 naming it and both hashes" \
  $([ "$(status)" = 409 ] && [ "$(echo "$body" | json error.code 2>/dev/null)" = conflict ] &&
     [ "$(echo "$body" | json error.field 2>/dev/null)" = finetune.init_from ] &&
     echo "$msg" | grep -q "checkpoint $cid " && echo "$msg" | grep -q "$sha" && echo "$msg" | grep -q "$bad" && echo 1 || echo 0) \
  "$(status) $body"
body=$(finetune "$pre")
report "daemon: a fine-tuning from its job (the newest checkpoint) → 409" \
  $([ "$(status)" = 409 ] && echo "$body" | grep -q "$bad" && echo 1 || echo 0) "$(status) $(echo "$body" | head -c 200)"
report "daemon: refused submissions store no job and leave no pin" \
  $([ "$before" = "$(api GET "/api/v1/jobs?limit=1000")" ] &&
     [ -z "$(ls "$state/pinned" 2>/dev/null)" ] && echo 1 || echo 0) "$(ls "$state/pinned" 2>/dev/null)"

# The older, good checkpoint: pinned, and its hash handed to the trainer.
ft_id=$(finetune "{\"checkpoint\": $older}" ', "max_steps": 2' | json id)
report "daemon: a fine-tuning from a good checkpoint is accepted" $([ "$(status)" = 201 ] && echo 1 || echo 0) "$(status) $(cat "$tmp/body" | head -c 200)"
older_sha=$(api GET "/api/v1/checkpoints/$older" | json sha256)
wait_state "$ft_id" succeeded 120
ok=$?
child=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["finetune"]["init_from"]))' \
  "$state/runs/$ft_id/spec.json" 2>/dev/null)
report "daemon: the trainer gets the starting checkpoint's sha256 and trains from it" \
  $([ $ok = 0 ] && [ "$(echo "$child" | json sha256)" = "$older_sha" ] && echo 1 || echo 0) "$child"

# Put right again (the byte flipped back): checked anew, served, no longer corrupt.
flip "$file"
curl -s -o "$tmp/dl" -w '%{http_code}' "$base/api/v1/checkpoints/$cid/download" > "$tmp/status"
report "daemon: a checkpoint whose file matches again is served and not corrupt" \
  $([ "$(status)" = 200 ] && [ "$(sha_of "$tmp/dl")" = "$sha" ] &&
     [ "$(api GET "/api/v1/checkpoints/$cid" | json corrupt)" = False ] && echo 1 || echo 0) "$(status)"

# A paused job whose newest checkpoint goes bad: its resumed trainer falls back, and the
# daemon marks that checkpoint corrupt from the trainer's checkpoint_corrupt event.
long=$(api POST /api/v1/jobs "{\"kind\": \"pretrain\", \"dataset\": \"fm\", $small,
  \"train\": {\"epochs\": 3, \"batch_size\": 50, \"threads\": 2},
  \"schedule\": {\"progress_every_steps\": 5, \"checkpoint_every_steps\": 10}}" | json id)
for _ in $(seq 600); do [ "$(api GET "/api/v1/jobs/$long" | json progress.step)" -ge 25 ] 2>/dev/null && break; sleep 0.1; done
api POST "/api/v1/jobs/$long/pause" > /dev/null
wait_state "$long" paused 60
newest=$(api GET "/api/v1/jobs/$long/checkpoints" | json checkpoints.0.id)
flip "$state/runs/$long/$(api GET "/api/v1/jobs/$long/checkpoints" | json checkpoints.0.path)"
api POST "/api/v1/jobs/$long/resume" > /dev/null
# Until the run passes that step again and rewrites it (a good file then), it shows corrupt.
seen=0
for _ in $(seq 600); do
  [ "$(api GET "/api/v1/checkpoints/$newest" | json corrupt)" = True ] && seen=1 && break
  [ "$(api GET "/api/v1/jobs/$long" | json state)" = succeeded ] && break
  sleep 0.1
done
wait_state "$long" succeeded 180
ok=$?
report "daemon: a resumed job whose newest checkpoint went bad succeeds, and that checkpoint shows corrupt" \
  $([ $ok = 0 ] && [ $seen = 1 ] && echo 1 || echo 0) \
  "state $(api GET "/api/v1/jobs/$long" | json state); checkpoint $newest seen corrupt: $seen"
