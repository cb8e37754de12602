# Shell helpers for the tests that drive a daemon with curl; sourced, not run. They expect
# $tmp (a scratch directory) and, for api and wait_state, $base (http://127.0.0.1:PORT).

# report NAME OK DETAIL: one "ok - ..." or "not ok - ..." line (OK is 1 or 0); check does the
# same and counts the failures in $failures, for a script whose exit status must say them.
report() { if [ "$2" = 1 ]; then echo "ok - $1: ${3:-}"; else echo "not ok - $1: ${3:-}"; fi; }
failures=0
check() { # check NAME OK DETAIL
  report "$@"
  [ "$2" = 1 ] || failures=$((failures + 1))
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# json PATH: the value at a dotted path (list indices as numbers) of the JSON on stdin.
json() { python3 -c 'import json,sys; d=json.load(sys.stdin); exec("for k in sys.argv[1].split(\".\"):\n  d = d[int(k)] if isinstance(d, list) else d.get(k)\nprint(\"\" if d is None else (json.dumps(d) if isinstance(d,(dict,list)) else d))")' "$1"; }
# api METHOD PATH [BODY]: prints the body; the status goes to $tmp/status
api() {
  local data=()
  [ $# -ge 3 ] && data=(-H 'Content-Type: application/json' --data-binary "$3")
  curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" "${data[@]}" "$base$2" > "$tmp/status"
  cat "$tmp/body"
}
status() { cat "$tmp/status"; }
wait_for_state() { # wait_for_state PATH STATE SECONDS: until GET PATH answers that "state"
  for _ in $(seq $(($3 * 10))); do
    [ "$(api GET "$1" | json state)" = "$2" ] && return 0
    sleep 0.1
  done
  return 1
}
wait_state() { wait_for_state "/api/v1/jobs/$1" "$2" "$3"; } # wait_state JOB STATE SECONDS

# daemon_session: a scratch directory and a daemon of the test's own. Sets $tmp (removed at
# exit), $port, $base and $state ($tmp/state), and defines start_daemon [FLAGS]: simmimd on
# 127.0.0.1:$port with its state in $state and FLAGS, its output appended to $tmp/daemon.log,
# its pid in $daemon_pid; returns once it answers /api/v1/health (1 if it never does). At exit
# the daemon gets SIGTERM, cleanup_extra runs if the script defines one, the script's
# background jobs are killed and $tmp goes.
daemon_session() {
  tmp=$(mktemp -d)
  daemon_pid=
  port=$(free_port)
  base="http://127.0.0.1:$port"
  state="$tmp/state"
  trap daemon_session_end EXIT
}
daemon_session_end() {
  [ -n "$daemon_pid" ] && kill -TERM "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  declare -F cleanup_extra > /dev/null && cleanup_extra
  jobs -p | xargs -r kill 2>/dev/null
  rm -rf "$tmp"
}
# fm_session TRAIN TEST [FLAGS]: daemon_session, a Fashion-MNIST subset of TRAIN training and
# TEST test images in $tmp/data/fm, start_daemon --data-root $tmp/data FLAGS, and the subset
# registered as dataset "fm" — one check saying whether all went well.
fm_session() {
  local train=$1 test=$2
  shift 2
  daemon_session
  mkdir -p "$tmp/data"
  python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/data/fm" "$train" "$test"
  start_daemon --data-root "$tmp/data" "$@" &&
    api POST /api/v1/datasets "{\"name\": \"fm\", \"format\": \"idx\", \"path\": \"$tmp/data/fm\"}" > /dev/null
  check "the daemon starts, dataset fm registered" $([ "$(status 2>/dev/null)" = 201 ] && echo 1 || echo 0) \
    "$(status 2>/dev/null) $(cat "$tmp/body" 2>/dev/null) $(tail -n 1 "$tmp/daemon.log")"
}
start_daemon() { # SIMMIMD names another daemon binary (an A/B comparison)
  "${SIMMIMD:-build/simmimd}" --listen "127.0.0.1:$port" --state-dir "$state" "$@" >> "$tmp/daemon.log" 2>&1 &
  daemon_pid=$!
  for _ in $(seq 200); do curl -s -o /dev/null "$base/api/v1/health" && return 0; sleep 0.05; done
  return 1
}
jobs_list() { api GET "/api/v1/jobs?limit=1000"; }
# refused STATUS FIELD BODY [WORD...]: POST /api/v1/jobs answers STATUS, its error names FIELD
# and its message starts with it (and holds each WORD), and the job list is as it was.
refused() {
  local want=$1 field=$2 body=$3 before out got msg ok=1
  shift 3
  before=$(jobs_list)
  out=$(api POST /api/v1/jobs "$body")
  got=$(status)
  msg=$(echo "$out" | json error.message 2>/dev/null)
  [ "$got" = "$want" ] && [ "$(echo "$out" | json error.field 2>/dev/null)" = "$field" ] &&
    [ "${msg#"$field: "}" != "$msg" ] || ok=0
  for word in "$@"; do echo "$msg" | grep -qF -- "$word" || ok=0; done
  [ "$before" = "$(jobs_list)" ] || ok=0
  check "$field: $(echo $body) → $want, nothing stored" $ok "$got $msg"
}
