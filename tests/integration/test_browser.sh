#!/usr/bin/env bash
# The dashboard in Debian's headless chromium: runs tests/browser/design.test.mjs (the form's
# design-space module under node), starts simmimd with a small Fashion-MNIST subset, small tar
# shards, and folders whose scans wait for the test's word (a simmim-data wrapper, so that the
# pages see a dataset scanning, then ready or failed, and a job waiting for it), and a second
# one with a token, runs tests/browser/dashboard.test.mjs against them, then
# takes the one-line headless screenshot CI systems and docs tools use of every page (chromium
# --headless ... --virtual-time-budget=5000 --screenshot=out.png URL: it must finish within
# 40 s, pages holding an event stream included, with the page's data drawn, which python3
# checks in the PNG's pixels), and keeps the screenshots in build/test-output/browser/. Prints
# "ok - ..." / "not ok - ..." lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
  # Scans still waiting for the test's word are let go (the wrapper also stops waiting once
  # its daemon is gone).
  touch "$tmp/gates/gated-shards" "$tmp/gates/gated-plain" 2>/dev/null
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

shots="$root/build/test-output/browser"
chromium=${CHROMIUM:-/usr/bin/chromium}
. tests/integration/daemon_client.sh

for need in build/simmimd "$chromium" "$(command -v node)"; do
  if [ ! -x "$need" ]; then
    echo "not ok - browser: $need is missing (make; deploy/deps.sh installs chromium and nodejs)"
    exit 1
  fi
done
# The dashboard's design-space module (web/design.js) on its own, under node.
node tests/browser/design.test.mjs
unit_rc=$?

if [ ! -f web/vendor/uPlot.esm.js ] || [ ! -d web/node_modules/playwright-core ]; then
  web/build.sh > "$tmp/build.log" 2>&1 || { echo "not ok - browser: web/build.sh failed: $(tail -3 "$tmp/build.log")"; exit 1; }
fi

# start_daemon PORT STATE_DIR [flags]: waits until it answers /health.
start_daemon() {
  local port=$1 state=$2
  shift 2
  build/simmimd --listen "127.0.0.1:$port" --state-dir "$state" --data-root "$tmp/data" "$@" \
    >> "$tmp/daemon-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$port/api/v1/health" && return 0; sleep 0.05; done
  echo "not ok - browser: simmimd did not start on port $port: $(tail -3 "$tmp/daemon-$port.log")"
  exit 1
}

mkdir -p "$tmp/data" "$tmp/gates"
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" 2000 500
# Tar shards (WebDataset layout, 16x16 noise PNGs with a .cls of 3 classes): 2 training shards
# of 50 samples, the second with a sample that has no image (a bad sample), and a test shard
# of 16 — in shards/ and again in gated-shards/; and gated-plain/, a flat folder of one
# colour, whose scan fails (it cannot be normalized).
python3 - "$tmp/data" <<'PY'
import io, os, random, struct, sys, tarfile, zlib
root = sys.argv[1]
def png(seed, colour=None):
    r = random.Random(seed)
    row = lambda: bytes(colour if colour is not None else r.randrange(256) for _ in range(16 * 3))
    raw = b''.join(b'\0' + row() for _ in range(16))
    chunk = lambda k, d: struct.pack('>I', len(d)) + k + d + struct.pack('>I', zlib.crc32(k + d))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 16, 16, 8, 2, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
def add(t, name, data):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    t.addfile(info, io.BytesIO(data))
def shard(path, keys, extra=()):
    with tarfile.open(path, 'w') as t:
        for k in keys:
            add(t, f'{k}.png', png(int(k[-6:])))
            add(t, f'{k}.cls', str(int(k[-6:]) % 3).encode())
        for name, data in extra:
            add(t, name, data)
for d in ('shards', 'gated-shards'):
    os.makedirs(f'{root}/{d}')
    for s in range(2):
        shard(f'{root}/{d}/train-{s:03d}.tar', [f'train{s * 50 + i:06d}' for i in range(50)],
              [('lonely.cls', b'1')] if s == 1 else ())
    shard(f'{root}/{d}/test-000.tar', [f'test{i:06d}' for i in range(16)])
os.makedirs(f'{root}/gated-plain')
for i in range(40):
    open(f'{root}/gated-plain/{i:03d}.png', 'wb').write(png(0, colour=200))
PY
# The daemon's simmim-data, except that the scan of a folder named gated-* waits until the
# test creates $tmp/gates/<folder> (or its daemon is gone, or 3 minutes have passed).
cat > "$tmp/simmim-data-gated" <<SH
#!/bin/sh
path= prev=
for a in "\$@"; do [ "\$prev" = --path ] && path=\$a; prev=\$a; done
case "\$path" in
  */gated-*)
    n=0
    while [ ! -e "$tmp/gates/\$(basename "\$path")" ] && [ \$n -lt 1800 ] && kill -0 \$PPID 2>/dev/null; do
      sleep 0.1
      n=\$((n + 1))
    done ;;
esac
exec "$root/build/simmim-data" "\$@"
SH
chmod +x "$tmp/simmim-data-gated"
port=$(free_port)
start_daemon "$port" "$tmp/state" --data-binary "$tmp/simmim-data-gated" --max-scans 4
status=$(curl -s -o "$tmp/reg.json" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary "{\"name\": \"fm-small\", \"format\": \"idx\", \"path\": \"$tmp/data/fm\"}" \
  "http://127.0.0.1:$port/api/v1/datasets")
if [ "$status" != 201 ]; then
  echo "not ok - browser: registering fm-small answered $status $(cat "$tmp/reg.json")"
  exit 1
fi
token=browser-s3cret
token_port=$(free_port)
start_daemon "$token_port" "$tmp/state-token" --token "$token"

rm -rf "$shots" && mkdir -p "$shots"
BASE_URL="http://127.0.0.1:$port" TOKEN_BASE_URL="http://127.0.0.1:$token_port" TOKEN="$token" \
  DATA_DIR="$tmp/data" SCAN_GATES="$tmp/gates" \
  SHOT_DIR="$shots" CHROMIUM="$chromium" timeout 300 node tests/browser/dashboard.test.mjs
rc=$?

# --- the one-line headless screenshot, for every page ---
base="http://127.0.0.1:$port"
api_get() { curl -s "$base$1"; }
# headless_shot NAME URL: the command exactly as users run it (plus a throw-away profile and
# the flags this machine needs), with 40 s to finish; prints the seconds it took.
headless_shot() {
  local name=$1 url=$2 profile start status
  profile=$(mktemp -d "$tmp/chromium-profile-XXXXXX")
  start=$(date +%s.%N)
  timeout 40 "$chromium" --headless --no-sandbox --disable-gpu --window-size=1280,900 \
    --virtual-time-budget=5000 --screenshot="$shots/headless-$name.png" \
    --user-data-dir="$profile" --disable-background-networking --disable-component-update \
    --disable-sync --no-first-run --disable-quic "$url" > "$tmp/chromium-$name.log" 2>&1
  status=$?
  echo "$status $(python3 -c "import time; print(f'{time.time() - $start:.1f}')")"
}

# Decodes a screenshot (8-bit RGB/RGBA PNG, as chromium writes it) and counts pixels by kind:
# prints "blue BLUE blue_low BLUE_BELOW_Y black BLACK" (blue: the dashboard's accent, in
# buttons, links, progress bars and chart lines; blue_low: those below y = $2; black: the
# sample images' backgrounds), or, with a second PNG as $3, the number of pixels that differ.
png_stats() {
  python3 - "$@" <<'PY'
import struct, sys, zlib

def read_png(path):
    data = open(path, 'rb').read()
    assert data[:8] == b'\x89PNG\r\n\x1a\n', f'{path} is not a PNG'
    pos, idat = 8, []
    while pos < len(data):
        n, kind = struct.unpack('>I4s', data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b'IHDR':
            w, h, depth, ctype, _, _, interlace = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat.append(body)
        pos += 12 + n
    assert depth == 8 and ctype in (2, 6) and interlace == 0, f'unexpected PNG format {depth}/{ctype}/{interlace}'
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(b''.join(idat)), w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif f == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif f == 4:
            for i in range(stride):
                a, b, c = (line[i - bpp] if i >= bpp else 0), prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x:x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return w, h, rows

w, h, rows = read_png(sys.argv[1])
if len(sys.argv) > 3:
    w2, h2, other = read_png(sys.argv[3])
    assert (w, h) == (w2, h2), 'sizes differ'
    print(sum(p != q for r, s in zip(rows, other) for p, q in zip(r, s)))
else:
    low = int(sys.argv[2])
    blue = lambda p: p[0] < 100 and 80 <= p[1] <= 140 and p[2] >= 190
    counts = [sum(blue(p) for p in r) for r in rows]
    black = sum(max(p) <= 8 for r in rows for p in r)
    print(f'blue {sum(counts)} blue_low {sum(counts[low:])} black {black} size {w}x{h}')
PY
}

shot_failed=0
# check_shot NAME URL Y CONDITION DESCRIPTION: CONDITION is a python expression over the
# counts (blue; blue_low: blue below y = Y; black).
check_shot() {
  local name=$1 url=$2 low=$3 cond=$4 what=$5 result status secs stats
  result=$(headless_shot "$name" "$url")
  status=${result% *} secs=${result#* }
  if [ "$status" != 0 ]; then
    echo "not ok - headless screenshot of $name ($url): chromium exited $status after ${secs}s$([ "$status" = 124 ] && echo ' (timed out: the page never settled)')"
    shot_failed=1
    return 1
  fi
  if [ ! -s "$shots/headless-$name.png" ]; then
    echo "not ok - headless screenshot of $name ($url): no PNG after ${secs}s: $(tail -2 "$tmp/chromium-$name.log")"
    shot_failed=1
    return 1
  fi
  stats=$(png_stats "$shots/headless-$name.png" "$low")
  if ! python3 -c "import sys; d = dict(zip(*[iter(sys.argv[1].split())] * 2)); blue, blue_low, black = (int(d[k]) for k in ('blue', 'blue_low', 'black')); sys.exit(0 if ($cond) else 1)" "$stats"; then
    echo "not ok - headless screenshot of $name ($url): finished in ${secs}s but $what is not drawn ($stats; wanted $cond)"
    shot_failed=1
    return 1
  fi
  echo "ok - headless screenshot of $name: finished in ${secs}s with $what drawn ($stats)"
}

tiny_id=$(api_get '/api/v1/jobs?kind=pretrain&state=succeeded' | python3 -c 'import json, sys; print(min((j["id"] for j in json.load(sys.stdin)["jobs"] if j["name"] == "browser-tiny"), default=""))')
# A job running meanwhile, so that the streams the pages hold carry events.
live_id=$(curl -s -H 'Content-Type: application/json' --data-binary '{"name": "browser-headless", "dataset": "fm-small",
  "model": {"embed_dim": 64, "depth": 2, "num_heads": 2}, "train": {"epochs": 100, "batch_size": 50, "warmup_epochs": 0, "threads": 2},
  "schedule": {"progress_every_steps": 5, "checkpoint_every_steps": 1000, "preview_every_steps": 20}}' \
  "$base/api/v1/jobs" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("id", ""))')
for _ in $(seq 120); do
  [ -n "$live_id" ] || break
  [ "$(api_get "/api/v1/jobs/$live_id" | python3 -c 'import json, sys; j = json.load(sys.stdin); print(j["state"] == "running" and (j["progress"]["step"] or 0) > 0)')" = True ] && break
  sleep 0.5
done

if [ -z "$tiny_id" ] || [ -z "$live_id" ]; then
  echo "not ok - headless screenshots: no finished job browser-tiny ('$tiny_id') or no running job ('$live_id') to show"
  shot_failed=1
else
  # The jobs list: progress bars and links in the rows (below the header, filters and button).
  check_shot jobs "$base/#/jobs" 200 'blue_low >= 1000' "the rows' progress bars and links"
  # A job page (finished, and running with its stream busy): the curves below the progress.
  check_shot job "$base/#/jobs/$tiny_id" 560 'blue_low >= 500' "the loss and learning-rate curves"
  check_shot job-running "$base/#/jobs/$live_id" 560 'blue_low >= 500' "the running job's curves"
  # The studies and a study (the one the browser test started from a preset): rows and links.
  study_id=$(api_get '/api/v1/studies' | python3 -c 'import json, sys; print(min((s["id"] for s in json.load(sys.stdin)["studies"] if s["name"] == "browser-study"), default=""))')
  check_shot studies "$base/#/studies" 150 'blue_low >= 200' "the studies' rows"
  [ -n "$study_id" ] && check_shot study "$base/#/studies/$study_id" 300 'blue_low >= 500' "the study's table and its job links"
  # The datasets: the sample grids (Fashion-MNIST's black backgrounds).
  check_shot datasets "$base/#/datasets" 0 'black >= 20000' "the sample grids"
  # The new-job form (its blue submit button), and filled from a job when cloning.
  if check_shot new "$base/#/new" 0 'blue >= 2000' 'the form' \
    && check_shot new-clone "$base/#/new?from=$tiny_id" 0 'blue >= 2000' 'the form'; then
    differ=$(png_stats "$shots/headless-new-clone.png" 0 "$shots/headless-new.png")
    if [ "$differ" -ge 300 ]; then
      echo "ok - headless screenshot of the form cloning job #$tiny_id shows the job's spec: $differ pixels differ from the empty form"
    else
      echo "not ok - headless screenshot of the form cloning job #$tiny_id: only $differ pixels differ from the empty form (the spec was not drawn)"
      shot_failed=1
    fi
  fi
fi
[ -n "$live_id" ] && curl -s -o /dev/null -X POST "$base/api/v1/jobs/$live_id/cancel"

echo "# screenshots: $(cd "$shots" && ls | tr '\n' ' ')"
[ $rc -eq 0 ] && [ $shot_failed -eq 0 ] && [ $unit_rc -eq 0 ]
