#!/usr/bin/env bash
# Links inside a dataset that lead outside the data roots (issue 24, point 3): an image folder
# under a data root whose class folder `cats` and one image link outside it. The daemon
# registers it without them (counts, sample labels; each skip in its log); simmim-train with
# --data-root skips them with a `warning` event each, refuses a dataset outside its roots,
# and without --data-root trains on everything, as documented.
# Prints "ok - ..." / "not ok - ..." lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/daemon_client.sh
daemon_session

# pngs DIR COUNT SEED: COUNT gray 16×16 PNGs of seeded noise, DIR/000.png ...
pngs() {
  python3 - "$@" <<'PY'
import os, random, struct, sys, zlib
d, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
for i in range(n):
    r = random.Random(seed * 1000 + i)
    raw = b''.join(b'\0' + bytes(r.randrange(256) for _ in range(16)) for _ in range(16))
    with open(f'{d}/{i:03d}.png', 'wb') as f:
        f.write(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 16, 16, 8, 0, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
PY
}

in="$tmp/roots/in" out="$tmp/elsewhere"
parts="$in/parts"
for class in a b; do pngs "$parts/train/$class" 12 1; pngs "$parts/test/$class" 4 2; done
pngs "$out/cats" 12 3
pngs "$out/secret" 1 4
ln -s "$out/cats" "$parts/train/cats"                  # a class folder that leads outside
ln -s "$out/secret/000.png" "$parts/train/a/leak.png"  # an image that leads outside
# 24 training images inside the root; 37 with what the links lead to.

# --- the daemon -----------------------------------------------------------------------------
start_daemon --data-root "$in"
reg=$(api POST /api/v1/datasets "{\"name\": \"parts\", \"format\": \"imagefolder\", \"path\": \"$parts\"}")
report "a folder with links outside the roots registers (201)" $([ "$(status)" = 201 ] && echo 1 || echo 0) \
  "$(status) $reg"
counts="$(echo "$reg" | json train_count) $(echo "$reg" | json test_count) $(echo "$reg" | json num_classes)"
report "its counts leave out what the links lead to" $([ "$counts" = "24 8 2" ] && echo 1 || echo 0) \
  "train, test, classes: $counts (with the links followed: 37 8 3)"
labels=$(api GET /api/v1/datasets/parts | json sample_labels)
report "its sample shows no image from outside the roots" \
  $([[ -n "$labels" && "$labels" != *cats* ]] && echo 1 || echo 0) "sample labels $labels"
curl -s -o "$tmp/sample.png" "$base/api/v1/datasets/parts/sample.png"
report "its sample.png is served" $(head -c 4 "$tmp/sample.png" | grep -q PNG && echo 1 || echo 0) \
  "$(stat -c %s "$tmp/sample.png") bytes"
report "the daemon logs each skipped link by name" \
  $(grep -q "dataset parts: $parts/train/cats: class folder skipped: it resolves outside the data roots" "$tmp/daemon.log" &&
    grep -q "dataset parts: $parts/train/a/leak.png: image skipped" "$tmp/daemon.log" && echo 1 || echo 0) \
  "$(grep 'skipped' "$tmp/daemon.log" | head -n 2 | tr '\n' ' ')"
ln -s "$out/cats" "$in/cats-link"
api POST /api/v1/datasets "{\"name\": \"cats\", \"format\": \"imagefolder\", \"path\": \"$in/cats-link\"}" > /dev/null
report "a dataset path that links outside is still refused (403)" $([ "$(status)" = 403 ] && echo 1 || echo 0) \
  "$(status) $(cat "$tmp/body")"
# A link swapped in after registration: the daemon's trainer is confined to its roots too.
rm "$parts/train/b/000.png" && ln -s "$out/secret/000.png" "$parts/train/b/000.png"
job=$(api POST /api/v1/jobs '{"dataset": "parts", "model": {"embed_dim": 64, "depth": 2, "num_heads": 2},
  "train": {"total_steps": 2, "batch_size": 8, "threads": 2}}' | json id)
wait_state "$job" succeeded 120
ok=$?
report "a job of the daemon skips a link that leads outside its roots, with a warning event" \
  $([ $ok = 0 ] && grep -q "\"event\":\"warning\".*train/b/000.png" "$tmp/state/runs/$job/events.jsonl" && echo 1 || echo 0) \
  "state $(api GET "/api/v1/jobs/$job" | json state): $(grep '"event":"warning"' "$tmp/state/runs/$job/events.jsonl" | head -n 1)"
rm "$parts/train/b/000.png" && pngs "$parts/train/b" 12 1
kill -TERM "$daemon_pid" && wait "$daemon_pid"
daemon_pid=

# --- simmim-train ---------------------------------------------------------------------------
spec() { # spec PATH: a 2-step pretraining of a small model on the image folder at PATH
  echo "{\"kind\": \"pretrain\", \"dataset\": {\"format\": \"imagefolder\", \"path\": \"$1\"},
  \"model\": {\"embed_dim\": 64, \"depth\": 2, \"num_heads\": 2},
  \"train\": {\"total_steps\": 2, \"batch_size\": 8, \"threads\": 2}}"
}
steps_per_epoch() { grep '"event":"start"' "$1" | json steps_per_epoch; }
spec "$parts" > "$tmp/spec.json"

build/simmim-train --spec "$tmp/spec.json" --run-dir "$tmp/confined" --data-root "$tmp/nowhere" \
  --data-root "$in" > "$tmp/confined.out" 2> "$tmp/confined.err"
rc=$?
ev="$tmp/confined/events.jsonl"
report "simmim-train --data-root trains on what lies inside" \
  $([ $rc = 0 ] && grep -q '"event":"done"' "$ev" && [ "$(steps_per_epoch "$ev")" = 3 ] && echo 1 || echo 0) \
  "exit $rc; steps per epoch $(steps_per_epoch "$ev") (24 images / batch 8 = 3)"
warnings=$(python3 -c 'import json,sys; [print(e["message"]) for e in map(json.loads, open(sys.argv[1])) if e["event"] == "warning"]' "$ev")
report "simmim-train --data-root: a warning event names each skipped link" \
  $(grep -q "^dataset: $parts/train/cats: class folder skipped: it resolves outside the data roots$" <<< "$warnings" &&
    grep -q "^dataset: $parts/train/a/leak.png: image skipped: it resolves outside the data roots$" <<< "$warnings" &&
    grep -q "^dataset: data root $tmp/nowhere does not resolve" <<< "$warnings" &&
    [ "$(wc -l <<< "$warnings")" = 3 ] && echo 1 || echo 0) "$(tr '\n' '|' <<< "$warnings")"
report "simmim-train: warnings also on stderr" \
  $([ "$(grep -c '^simmim-train: warning: dataset: ' "$tmp/confined.err")" = 3 ] && echo 1 || echo 0) \
  "$(grep -c 'warning' "$tmp/confined.err") lines"
report "simmim-train: stdout and events.jsonl carry the same events, warnings included" \
  $(cmp -s "$tmp/confined.out" "$ev" && echo 1 || echo 0) "$(wc -l < "$ev") lines"

build/simmim-train --spec "$tmp/spec.json" --run-dir "$tmp/free" > /dev/null 2>&1
rc=$?
ev="$tmp/free/events.jsonl"
report "simmim-train without --data-root follows the links (confines nothing)" \
  $([ $rc = 0 ] && [ "$(steps_per_epoch "$ev")" = 4 ] && ! grep -q '"event":"warning"' "$ev" && echo 1 || echo 0) \
  "exit $rc; steps per epoch $(steps_per_epoch "$ev") (37 images / batch 8 = 4), $(grep -c warning "$ev") warnings"

build/simmim-train --spec "$tmp/spec.json" --run-dir "$tmp/refused" --data-root "$out" \
  > /dev/null 2> "$tmp/refused.err"
rc=$?
msg=$(grep '"event":"error"' "$tmp/refused/events.jsonl" | json message)
report "simmim-train --data-root: a dataset outside the roots is an error naming it" \
  $([ $rc = 1 ] && [ "$msg" = "dataset: $parts: resolves outside the data roots ($out)" ] &&
    [ ! -e "$tmp/refused/checkpoints/step-2.safetensors" ] && echo 1 || echo 0) "exit $rc: $msg"
build/simmim-train --spec "$tmp/spec.json" --run-dir "$tmp/usage" --data-root > /dev/null 2> "$tmp/usage.err"
rc=$?
report "simmim-train: --data-root without a folder is a usage error" \
  $([ $rc = 2 ] && grep -q -- '--data-root DIR' "$tmp/usage.err" && echo 1 || echo 0) "exit $rc"
