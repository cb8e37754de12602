#!/usr/bin/env bash
# Study jobs (issue 27) through a real daemon on a tiny Fashion-MNIST subset with a tiny model
# and a few steps per job: a 2x2 grid (a pretraining axis and a fine-tuning-only axis) with 2
# seeds and the baseline runs to the end — one pretraining per ratio and seed serves both
# fine-tuning values, rows and tables agree with the children's own top-1, children are
# ordinary jobs naming their study (GET /api/v1/jobs?study= lists them) — through a kill -9 of
# the daemon mid-study; a study probing its pretraining (linprobe): the probe's top-1 and the
# pretraining's k-NN top-1 in the rows and tables; a daemon killed between a pretraining's
# success and the submission of its probe and fine-tunings submits them when it starts again;
# pause, resume and cancel act on the children; DELETE takes the children with it; bad input
# is a 400 naming the axis, with nothing stored. Prints "ok - ..." / "not ok - ...".
set -u
cd "$(dirname "$0")/../.."
. tests/integration/daemon_client.sh
fm_session 400 100 --max-jobs 2 --max-cells 8

# Tiny jobs: 3 steps of 32 images on one thread, a checkpoint at the end.
job='"dataset": "fm", "model": {"embed_dim": 32, "depth": 1, "num_heads": 2},
  "train": {"epochs": 1, "max_steps": 3, "batch_size": 32, "threads": 1},
  "schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 3, "preview_every_steps": 3}'
# A pretraining of the grid long enough (100 steps, a few seconds) for the daemon to be killed
# amid the study.
pre_job=${job/\"epochs\": 1, \"max_steps\": 3/\"epochs\": 10, \"max_steps\": 100}
long_job='"dataset": "fm", "model": {"embed_dim": 32, "depth": 1, "num_heads": 2},
  "train": {"epochs": 1000, "batch_size": 32, "threads": 1},
  "schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 1000, "preview_every_steps": 1000}'

wait_study() { wait_for_state "/api/v1/studies/$1" "$2" "$3"; } # wait_study ID STATE SECONDS
# study_py ID < PROGRAM: python3 runs PROGRAM after a prelude that reads study ID (study), its
# table.csv (lines: a dict a row) and table.md (md) as the API answers them, defines get(path)
# (GET of the API, as JSON) and problems = []; also leaves them in $tmp/study-ID.{json,csv,md}.
study_py() {
  local f="$tmp/study-$1"
  api GET "/api/v1/studies/$1" > "$f.json"
  api GET "/api/v1/studies/$1/table.csv" > "$f.csv"
  api GET "/api/v1/studies/$1/table.md" > "$f.md"
  python3 -c "import csv, json, math, statistics, sys, urllib.request
study = json.load(open(sys.argv[1]))
lines = list(csv.DictReader(open(sys.argv[2], newline='')))
md = open(sys.argv[3]).read()
get = lambda path: json.load(urllib.request.urlopen(sys.argv[4] + path))
problems = []
$(cat)" "$f.json" "$f.csv" "$f.md" "$base"
}
study_jobs() { # the ids of the jobs of study $1 (GET /api/v1/jobs?study=), one a line, newest first
  api GET "/api/v1/jobs?study=$1&limit=1000" | python3 -c '
import json, sys
print("\n".join(str(j["id"]) for j in json.load(sys.stdin)["jobs"]))'
}

# --- bad input: a 400 naming the axis, nothing stored ------------------------------------------
before=$(api GET /api/v1/studies; api GET '/api/v1/jobs?limit=1000')
bad() { # bad NAME FIELD BODY
  local body
  body=$(api POST /api/v1/studies "$3")
  check "bad input: $1" $([ "$(status)" = 400 ] && [ "$(echo "$body" | json error.field)" = "$2" ] && echo 1 || echo 0) \
    "$(status) $body"
}
bad "an unknown field in an axis" "axes[0].field" \
  "{\"pretrain\": {$job}, \"finetune\": {$job}, \"axes\": [{\"field\": \"pretrain.mask.ratoi\", \"values\": [0.5]}]}"
bad "a value the spec validator refuses" "axes[1].values[2]" \
  "{\"pretrain\": {$job}, \"finetune\": {$job}, \"axes\": [{\"field\": \"finetune.train.lr\", \"values\": [0.001]},
    {\"field\": \"pretrain.mask.ratio\", \"values\": [0.3, 0.6, 1.5]}]}"
bad "a value the submission refuses (batch larger than the dataset)" "axes[0].values[1]" \
  "{\"pretrain\": {$job}, \"finetune\": {$job}, \"axes\": [{\"field\": \"finetune.train.batch_size\", \"values\": [32, 4000]}]}"
bad "an empty grid" "axes" "{\"pretrain\": {$job}, \"finetune\": {$job}, \"axes\": []}"
bad "too many cells (max-cells 8)" "axes" \
  "{\"pretrain\": {$job}, \"finetune\": {$job}, \"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": [0.2, 0.4, 0.6]},
    {\"field\": \"finetune.train.lr\", \"values\": [0.001, 0.002, 0.003]}]}"
bad "an axis field without pretrain. or finetune." "axes[0].field" \
  "{\"pretrain\": {$job}, \"finetune\": {$job}, \"axes\": [{\"field\": \"mask.ratio\", \"values\": [0.5]}]}"
bad "the study's own spec" "finetune.finetune.label_smoothing" \
  "{\"pretrain\": {$job}, \"finetune\": {\"dataset\": \"fm\", \"finetune\": {\"label_smoothing\": 2}}, \"preset\": \"scope\"}"
api POST /api/v1/studies '{"preset": "scope", "pretrain": {"dataset": "nope"}}' > /dev/null
check "bad input: an unknown dataset is 404" $([ "$(status)" = 404 ] && [ "$(json error.field < "$tmp/body")" = pretrain.dataset ] && echo 1 || echo 0) "$(status) $(cat "$tmp/body")"
after=$(api GET /api/v1/studies; api GET '/api/v1/jobs?limit=1000')
check "bad input stores nothing" $([ "$before" = "$after" ] && echo 1 || echo 0) "studies and jobs compared"

# --- a 2x2 grid, 2 seeds, the baseline, through a kill -9 ---------------------------------------
grid=$(api POST /api/v1/studies "{\"name\": \"grid\", \"pretrain\": {$pre_job}, \"finetune\": {$job},
  \"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": [0.3, 0.6]},
             {\"field\": \"finetune.finetune.layer_decay\", \"values\": [0.75, 1.0]}],
  \"seeds\": [0, 1], \"baseline\": true}")
sid=$(echo "$grid" | json id)
check "POST /api/v1/studies answers 201 with the study" \
  $([ "$(status)" = 201 ] && [ "$(echo "$grid" | json cells_total)" = 4 ] && [ "$(echo "$grid" | json jobs_total)" = 14 ] && echo 1 || echo 0) \
  "$(status) $(echo "$grid" | head -c 300)"
submitted=$(echo "$grid" | python3 -c '
import json, sys
s = json.load(sys.stdin)
ids = lambda role: [i for r in s["rows"] for i in r["job_ids"][role]]
print(sum(i is not None for i in ids("pretrain")), sum(i is not None for i in ids("finetune")),
      sum(i is not None for i in s["baseline_row"]["job_ids"]["finetune"]), len(set(ids("pretrain"))))')
check "pretrainings (4, each serving 2 cells) and baselines are submitted at once, fine-tunings wait" \
  $([ "$submitted" = "8 0 2 4" ] && echo 1 || echo 0) "pretraining seats, fine-tunings, baselines, distinct pretrainings: $submitted"
first=$(study_jobs "$sid" | tail -1)
job_json=$(api GET "/api/v1/jobs/$first")
check "a child is an ordinary job naming its study" \
  $([ "$(echo "$job_json" | json study)" = "$sid" ] && echo "$job_json" | json name | grep -q '^grid/' && echo 1 || echo 0) \
  "$(echo "$job_json" | json name) study $(echo "$job_json" | json study)"
# kill -9 once a fine-tuning exists and the study is not done
for _ in $(seq 600); do
  curl -s "$base/api/v1/jobs?kind=finetune&limit=1000" | grep -q '"grid/finetune-' && break
  sleep 0.05
done
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
killed_at=$(sqlite3 "$state/simmimd.db" "SELECT COUNT(*) FROM jobs WHERE study_id = $sid")
check "the daemon is killed amid the study" $([ "$killed_at" -lt 14 ] && echo 1 || echo 0) "$killed_at of 14 jobs submitted"
start_daemon --data-root "$tmp/data" --max-jobs 2 --max-cells 8
wait_study "$sid" succeeded 240
ok=$?
study=$(api GET "/api/v1/studies/$sid")
check "after kill -9 and a restart the study runs to the end, no work left" \
  $([ $ok = 0 ] && [ "$(echo "$study" | json cells_done)" = 4 ] && [ "$(echo "$study" | json work_left_s)" = 0.0 ] && echo 1 || echo 0) \
  "$(echo "$study" | json state), $(echo "$study" | json cells_done) of 4 cells, work left $(echo "$study" | json work_left_s)"
check "every run has exactly one job: 4 pretrainings, 8 fine-tunings, 2 baselines" \
  $([ "$(study_jobs "$sid" | wc -l)" = 14 ] && [ "$(sqlite3 "$state/simmimd.db" "SELECT COUNT(*) FROM study_runs WHERE study_id = $sid AND job_id IS NOT NULL")" = 14 ] && echo 1 || echo 0) \
  "$(study_jobs "$sid" | wc -l) jobs"
out=$(study_py "$sid" <<'EOF'
def close(a, b):
    return (a is None and b is None) or (a is not None and b is not None and abs(a - b) < 1e-6)
base = study["baseline_row"]
base_top1 = [get(f"/api/v1/jobs/{j}")["metrics"]["top1"] for j in base["job_ids"]["finetune"]]
if base["top1"] != base_top1: problems.append(f"baseline top1 {base['top1']} != {base_top1}")
pretrain_of = {}
for row in study["rows"]:
    fts = [get(f"/api/v1/jobs/{j}") for j in row["job_ids"]["finetune"]]
    pres = [get(f"/api/v1/jobs/{j}") for j in row["job_ids"]["pretrain"]]
    top1 = [j["metrics"]["top1"] for j in fts]
    if row["top1"] != top1: problems.append(f"{row['values']}: top1 {row['top1']} != {top1}")
    if not close(row["top1_mean"], statistics.mean(top1)): problems.append("mean")
    if not close(row["top1_sd"], statistics.stdev(top1)): problems.append("sd")
    gains = [a - b for a, b in zip(top1, base_top1)]
    if not close(row["gain_mean"], statistics.mean(gains)): problems.append("gain")
    if not close(row["gain_se"], statistics.stdev(gains) / math.sqrt(2)): problems.append("gain_se")
    if not close(row["pretrain_wall_s"], statistics.mean(p["duration_s"] for p in pres)): problems.append("wall")
    if not (isinstance(row["params"], int) and row["params"] > 0 and row["img_per_s"] > 0): problems.append("cost")
    for f, p in zip(fts, pres):
        if f["init_checkpoint_id"] is None: problems.append("no init checkpoint")
        if f["spec"]["finetune"]["layer_decay"] != row["values"]["finetune.finetune.layer_decay"]: problems.append("ld")
        if p["spec"]["mask"]["ratio"] != row["values"]["pretrain.mask.ratio"]: problems.append("ratio")
        if f["spec"]["train"]["seed"] != p["spec"]["train"]["seed"]: problems.append("seed")
    pretrain_of.setdefault(row["values"]["pretrain.mask.ratio"], []).append(tuple(row["job_ids"]["pretrain"]))
reused = all(len(set(v)) == 1 and len(v) == 2 for v in pretrain_of.values())
if list(lines[0])[:3] != ["row", "pretrain.mask.ratio", "finetune.finetune.layer_decay"] or len(lines) != 5: problems.append("csv shape")
for line, row in zip(lines[1:], study["rows"]):
    if not close(float(line["top1_mean"]), row["top1_mean"]) or not close(float(line["gain_mean"]), row["gain_mean"]): problems.append("csv figures")
for row in study["rows"]:
    cell = f"| {row['values']['pretrain.mask.ratio']} | {row['values']['finetune.finetune.layer_decay']} | {row['top1_mean']:.2f} ± {row['top1_sd']:.2f} |"
    if cell not in md: problems.append("md: " + cell)
print("reused" if reused else "not reused", "; ".join(problems) or "all agree")
EOF
)
check "rows and tables agree with the children's own top-1 (mean, sd, paired gain, se, cost)" \
  $(echo "$out" | grep -q 'all agree$' && echo 1 || echo 0) "$out"
check "one pretraining per ratio and seed serves both fine-tuning values" \
  $(echo "$out" | grep -q '^reused' && echo 1 || echo 0) "$out"
head -4 "$tmp/study-$sid.md"
check "table.md and table.csv answer with their types" \
  $(curl -s -o /dev/null -w '%{content_type}' "$base/api/v1/studies/$sid/table.md" | grep -q markdown &&
    curl -s -o /dev/null -w '%{content_type}' "$base/api/v1/studies/$sid/table.csv" | grep -q text/csv && echo 1 || echo 0) ""
list=$(api GET /api/v1/studies)
check "GET /api/v1/studies lists it" $([ "$(echo "$list" | json total)" = 1 ] && [ "$(echo "$list" | json studies.0.state)" = succeeded ] && echo 1 || echo 0) \
  "$(echo "$list" | head -c 200)"
naming=$(api GET '/api/v1/jobs?limit=1000' | python3 -c '
import json, sys
print("\n".join(str(j["id"]) for j in json.load(sys.stdin)["jobs"] if j.get("study") == int(sys.argv[1])))' "$sid")
check "GET /api/v1/jobs?study= lists exactly the jobs naming the study" \
  $([ "$(study_jobs "$sid")" = "$naming" ] && [ "$(api GET "/api/v1/jobs?study=$sid&kind=pretrain" | json total)" = 4 ] && echo 1 || echo 0) \
  "$(study_jobs "$sid" | wc -l) listed, $(echo "$naming" | wc -l) naming it"
api GET '/api/v1/jobs?study=grid' > /dev/null
check "GET /api/v1/jobs?study= with a word is a 400 naming study" \
  $([ "$(status)" = 400 ] && [ "$(json error.field < "$tmp/body")" = study ] && echo 1 || echo 0) "$(status) $(cat "$tmp/body")"

# --- a linear probe of each pretraining -------------------------------------------------------
# One pretraining serving two fine-tunings, probed once: the rows carry the probe's top-1 and
# the pretraining's k-NN top-1, the tables their columns.
one=$(api POST /api/v1/studies "{\"name\": \"one\", \"pretrain\": {$job}, \"finetune\": {$job},
  \"linprobe\": {\"dataset\": \"fm\", \"train\": {\"batch_size\": 32, \"threads\": 1}, \"linprobe\": {\"max_iterations\": 20}},
  \"axes\": [{\"field\": \"finetune.train.lr\", \"values\": [0.001, 0.002]}]}")
one_id=$(echo "$one" | json id)
check "a study with linprobe is accepted: a pretraining, its probe, two fine-tunings" \
  $([ "$(status)" = 201 ] && [ "$(echo "$one" | json jobs_total)" = 4 ] && echo 1 || echo 0) "$(status) $(echo "$one" | head -c 300)"
wait_study "$one_id" succeeded 120
out=$(study_py "$one_id" <<'EOF'
probes = {tuple(r["job_ids"]["linprobe"]) for r in study["rows"]}
probe_id = next(iter(probes))[0] if len(probes) == 1 else None
probe = get(f"/api/v1/jobs/{probe_id}") if probe_id else {}
pre = get(f"/api/v1/jobs/{study['rows'][0]['job_ids']['pretrain'][0]}")
if not probe: problems.append(f"probes {probes}")
elif probe["kind"] != "linprobe" or probe["state"] != "succeeded" or probe["init_checkpoint_id"] is None:
    problems.append(f"probe job {probe['kind']} {probe['state']} from {probe['init_checkpoint_id']}")
elif probe["spec"]["linprobe"]["max_iterations"] != 20 or probe["study"] != study["id"]: problems.append("probe spec")
for row in study["rows"]:
    if row["linprobe_top1"] != [probe.get("metrics", {}).get("top1")] or row["linprobe_top1_mean"] != row["linprobe_top1"][0]:
        problems.append(f"linprobe_top1 {row['linprobe_top1']} {row['linprobe_top1_mean']}")
    if row["knn_top1"] != [pre["metrics"].get("knn_top1")]: problems.append(f"knn_top1 {row['knn_top1']} vs {pre['metrics']}")
if [float(l["linprobe_top1_mean"]) for l in lines] != [r["linprobe_top1_mean"] for r in study["rows"]]: problems.append("csv")
if "| linear probe (%) |" not in md: problems.append("md")
print(f"probe top-1 {probe.get('metrics', {}).get('top1')}, k-NN {pre['metrics'].get('knn_top1')}:", "; ".join(problems) or "all agree")
EOF
)
check "one probe per pretraining; the rows and tables carry its top-1 and the pretraining's k-NN top-1" \
  $(echo "$out" | grep -q 'all agree$' && echo 1 || echo 0) "$out"

# --- killed between a pretraining's success and its fine-tunings' submission -----------------
kill -9 "$daemon_pid"
wait "$daemon_pid" 2>/dev/null
# The state such a kill leaves: the pretraining succeeded, its probe and fine-tunings never
# submitted.
sqlite3 "$state/simmimd.db" "PRAGMA foreign_keys = ON;
  DELETE FROM jobs WHERE id IN (SELECT job_id FROM study_runs WHERE study_id = $one_id AND role <> 'pretrain');
  UPDATE study_runs SET job_id = NULL WHERE study_id = $one_id AND role <> 'pretrain';"
start_daemon --data-root "$tmp/data" --max-jobs 2 --max-cells 8
check "at start the daemon submits the probe and fine-tunings of a pretraining that succeeded" \
  $([ "$(study_jobs "$one_id" | wc -l)" = 4 ] && echo 1 || echo 0) "$(study_jobs "$one_id" | wc -l) jobs"
wait_study "$one_id" succeeded 120
check "and the study completes" $([ $? = 0 ] && echo 1 || echo 0) "$(api GET "/api/v1/studies/$one_id" | json state)"

# --- pause, resume, cancel, delete ---------------------------------------------------------------
steer=$(api POST /api/v1/studies "{\"name\": \"steer\", \"pretrain\": {$long_job}, \"finetune\": {$job},
  \"axes\": [{\"field\": \"pretrain.mask.ratio\", \"values\": [0.5]}], \"seeds\": [0, 1]}")
steer_id=$(echo "$steer" | json id)
read -r p0 p1 <<< "$(study_jobs "$steer_id" | tr '\n' ' ')"
wait_state "$p0" running 30
api POST "/api/v1/studies/$steer_id/pause" > /dev/null
wait_state "$p0" paused 60 && wait_state "$p1" paused 10
check "pause: the running child checkpoints and pauses, the queued one is held" \
  $([ $? = 0 ] && [ "$(api GET "/api/v1/studies/$steer_id" | json state)" = paused ] && echo 1 || echo 0) \
  "$(api GET "/api/v1/jobs/$p0" | json state) $(api GET "/api/v1/jobs/$p1" | json state)"
api POST "/api/v1/studies/$steer_id/pause" > /dev/null
check "pause of a paused study is 409" $([ "$(status)" = 409 ] && echo 1 || echo 0) "$(status) $(cat "$tmp/body")"
api POST "/api/v1/studies/$steer_id/resume" > /dev/null
wait_state "$p0" running 30
check "resume: the children run again" $([ $? = 0 ] && [ "$(api GET "/api/v1/studies/$steer_id" | json state)" = running ] && echo 1 || echo 0) \
  "$(api GET "/api/v1/jobs/$p0" | json state)"
api DELETE "/api/v1/studies/$steer_id" > /dev/null
check "DELETE of a running study is 409" $([ "$(status)" = 409 ] && echo 1 || echo 0) "$(status) $(cat "$tmp/body")"
api POST "/api/v1/studies/$steer_id/cancel" > /dev/null
wait_study "$steer_id" cancelled 5 && wait_state "$p0" cancelled 60 && wait_state "$p1" cancelled 10
ok=$?
rows=$(api GET "/api/v1/studies/$steer_id" | json rows.0.states)
check "cancel: the children are cancelled, the cells say so, no fine-tuning is submitted" \
  $([ $ok = 0 ] && [ "$rows" = '["cancelled", "cancelled"]' ] && [ "$(study_jobs "$steer_id" | wc -l)" = 2 ] && echo 1 || echo 0) \
  "$rows"
api DELETE "/api/v1/studies/$steer_id" > /dev/null
check "DELETE of an ended study: 204, its jobs gone with it" \
  $([ "$(status)" = 204 ] && [ -z "$(study_jobs "$steer_id")" ] && api GET "/api/v1/jobs/$p0" > /dev/null && [ "$(status)" = 404 ] &&
    api GET "/api/v1/studies/$steer_id" > /dev/null && [ "$(status)" = 404 ] && echo 1 || echo 0) "$(status)"

echo "--- GET /api/v1/studies/$sid"
cat "$tmp/study-$sid.json"
[ $failures = 0 ]
