#!/usr/bin/env bash
# The dashboard in Debian's headless chromium: starts simmimd with a small Fashion-MNIST subset
# (and a second one with a token), runs tests/browser/dashboard.test.mjs against them, and
# keeps its screenshots in build/test-output/browser/. Prints "ok - ..." / "not ok - ..."
# lines for tests/run_tests.sh.
set -u
cd "$(dirname "$0")/../.."
root=$(pwd)
tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

shots="$root/build/test-output/browser"
chromium=${CHROMIUM:-/usr/bin/chromium}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for need in build/simmimd "$chromium" "$(command -v node)"; do
  if [ ! -x "$need" ]; then
    echo "not ok - browser: $need is missing (make; deploy/deps.sh installs chromium and nodejs)"
    exit 1
  fi
done
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

mkdir -p "$tmp/data"
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" 2000 500
port=$(free_port)
start_daemon "$port" "$tmp/state"
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
  SHOT_DIR="$shots" CHROMIUM="$chromium" timeout 300 node tests/browser/dashboard.test.mjs
rc=$?
echo "# screenshots: $(cd "$shots" && ls | tr '\n' ' ')"
exit $rc
