#!/usr/bin/env bash
# Two hosts on one machine (issue 29.6): host "b" is a network namespace (its own veth link,
# 10.29.0.2, and its own host name through a UTS namespace) running sshd; this machine is host
# "a" (10.29.0.1) and runs rank 0. mpirun starts rank 1 on b over ssh, as it would on another
# machine, and the ranks talk over TCP on the veth link (no shared memory between them). What
# a second machine would not give: the same file system (binaries, dataset at the same path),
# which is what the README's "Running on several machines" asks of one.
# Checks: 2 ranks on two hosts train 1 rank's losses (l2, 20 steps); SIGUSR1 to mpirun stops
# both after the same step with a checkpoint; a hung rank on b is named with b's host name
# after --rank-timeout; a rank killed on b ends the job, leaving no process on either host.
# As root (ip netns, sshd); needs openssh-server. Output: tests/bench/results/issue29-multihost.txt.
set -u
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "multihost_netns.sh: run as root (ip netns, sshd)" >&2; exit 2; }
[ -x /usr/sbin/sshd ] || { echo "multihost_netns.sh: needs openssh-server" >&2; exit 2; }
tmp=$(mktemp -d)
ns=simmim-b
cleanup() {
  [ -f "$tmp/sshd.pid" ] && kill "$(cat "$tmp/sshd.pid")" 2>/dev/null
  ip netns del $ns 2>/dev/null
  ip link del veth-29a 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
report() { if [ "$2" = 1 ]; then echo "ok - $1: $3"; else echo "not ok - $1: $3"; fi; }

# --- the second host ---------------------------------------------------------------------
ip netns add $ns
ip link add veth-29a type veth peer name veth-29b
ip link set veth-29b netns $ns
ip addr add 10.29.0.1/24 dev veth-29a && ip link set veth-29a up
ip netns exec $ns ip addr add 10.29.0.2/24 dev veth-29b
ip netns exec $ns ip link set veth-29b up
ip netns exec $ns ip link set lo up
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$tmp/key"
ssh-keygen -q -t ed25519 -N '' -f "$tmp/hostkey"
cp "$tmp/key.pub" "$tmp/authorized_keys"
cat > "$tmp/sshd_config" <<EOF
ListenAddress 10.29.0.2
HostKey $tmp/hostkey
AuthorizedKeysFile $tmp/authorized_keys
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
PidFile $tmp/sshd.pid
SetEnv PATH=$PATH
EOF
ip netns exec $ns unshare --uts sh -c "hostname $ns && exec /usr/sbin/sshd -f $tmp/sshd_config"
ssh="ssh -i $tmp/key -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
for _ in $(seq 50); do $ssh 10.29.0.2 true 2>/dev/null && break; sleep 0.1; done
report "host b answers over ssh with its own name" \
  $([ "$($ssh 10.29.0.2 hostname 2>/dev/null)" = $ns ] && echo 1 || echo 0) "$($ssh 10.29.0.2 hostname 2>&1)"

printf '10.29.0.1 slots=1\n10.29.0.2 slots=1\n' > "$tmp/hosts"
mpi=(mpirun -np 2 --allow-run-as-root --hostfile "$tmp/hosts" --mca plm_rsh_agent "$ssh"
     --mca oob_tcp_if_include 10.29.0.0/24 --mca btl_tcp_if_include 10.29.0.0/24
     --mca btl self,tcp -x OMP_WAIT_POLICY=passive)
train=$PWD/build/simmim-train

# --- training across the two hosts ---------------------------------------------------------
python3 tests/integration/make_subset.py /usr/share/datasets/fashion-mnist "$tmp/fm" 2048 256
spec() { # spec FILE RANKS STEPS
  cat > "$1" <<JSON
{"kind": "pretrain", "dataset": {"format": "idx", "path": "$tmp/fm"},
 "model": {"embed_dim": 32, "depth": 1, "num_heads": 1, "patch_size": 8}, "loss": {"type": "l2"},
 "train": {"total_steps": $3, "batch_size": 256, "seed": 5, "threads": 1, "ranks": $2},
 "eval": {"knn": {"enabled": false}},
 "schedule": {"progress_every_steps": 1, "checkpoint_every_steps": 1000, "preview_every_steps": 1000}}
JSON
}
losses() { python3 -c 'import json,sys; print(" ".join(str(json.loads(l)["loss"]) for l in open(sys.argv[1]) if "\"progress\"" in l))' "$1"; }
spec "$tmp/one.json" 1 20
spec "$tmp/two.json" 2 20
$train --spec "$tmp/one.json" --run-dir "$tmp/one" > /dev/null 2>&1
start=$(date +%s.%N)
"${mpi[@]}" "$train" --spec "$tmp/two.json" --run-dir "$tmp/two" > /dev/null 2> "$tmp/two.err"
rc=$?
took=$(python3 -c "print(round($(date +%s.%N) - $start, 1))")
read -r ok diff <<< "$(python3 -c 'import sys; a=[float(x) for x in sys.argv[1].split()]; b=[float(x) for x in sys.argv[2].split()]; d=max([abs(x-y)/x for x,y in zip(a,b)] or [1]); print(int(len(a) == len(b) == 20 and d <= 1e-5), d)' "$(losses "$tmp/one/events.jsonl")" "$(losses "$tmp/two/events.jsonl")")"
report "2 ranks on hosts a and b train 1 rank's losses over 20 steps" \
  $([ $rc = 0 ] && [ "$ok" = 1 ] && echo 1 || echo 0) \
  "exit $rc in $took s; max rel diff $diff; exchange $(grep '"progress"' "$tmp/two/events.jsonl" | tail -n 1 | grep -o '"exchange_s":[0-9.e-]*')"

spec "$tmp/long.json" 2 100000
started() { for _ in $(seq 500); do grep -q '"event":"progress"' "$1/events.jsonl" 2>/dev/null && return; sleep 0.02; done; }
# rank 1, which runs on b (both hosts share this machine's process table: pick it by its rank)
remote_rank() {
  for p in $(pgrep -f "^$train --spec $tmp/long.json --run-dir $1"); do
    tr '\0' '\n' < /proc/$p/environ 2>/dev/null | grep -qx OMPI_COMM_WORLD_RANK=1 && echo $p
  done
}
"${mpi[@]}" "$train" --spec "$tmp/long.json" --run-dir "$tmp/stop" > /dev/null 2>&1 &
pid=$!
started "$tmp/stop"
sleep 1
kill -USR1 $pid
wait $pid
rc=$?
stopped=$(grep '"event":"stopped"' "$tmp/stop/events.jsonl")
step=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["step"])' "$stopped" 2>/dev/null)
report "SIGUSR1: both hosts' ranks stop after the same step, rank 0 checkpoints, exit 0" \
  $([ $rc = 0 ] && [ -f "$tmp/stop/checkpoints/step-$step.state" ] && echo 1 || echo 0) "exit $rc; $stopped"

"${mpi[@]}" "$train" --spec "$tmp/long.json" --run-dir "$tmp/hung" --rank-timeout 3 > /dev/null 2> "$tmp/hung.err" &
pid=$!
started "$tmp/hung"
hung=$(remote_rank "$tmp/hung")
report "rank 1 runs on host b (its UTS and network namespaces are b's)" \
  $([ -n "$hung" ] && [ "$(readlink /proc/$hung/ns/uts)" != "$(readlink /proc/self/ns/uts)" ] && \
    [ "$(readlink /proc/$hung/ns/net)" = "$(readlink /run/netns/$ns 2>/dev/null || ip netns exec $ns readlink /proc/self/ns/net)" ] && echo 1 || echo 0) \
  "pid $hung: $(readlink /proc/$hung/ns/uts) $(readlink /proc/$hung/ns/net)"
kill -STOP "$hung" # as from b: the same process
wait $pid
rc=$?
sleep 1
error=$(grep '"event":"error"' "$tmp/hung/events.jsonl")
report "a rank hung on host b: rank 0 names it and its host after --rank-timeout; none left" \
  $([ $rc != 0 ] && echo "$error" | grep -q "rank 1 ($ns) never arrived" && [ -z "$(remote_rank "$tmp/hung")" ] && echo 1 || echo 0) \
  "exit $rc; $error"

"${mpi[@]}" "$train" --spec "$tmp/long.json" --run-dir "$tmp/dead" > /dev/null 2> "$tmp/dead.err" &
pid=$!
started "$tmp/dead"
kill -9 "$(remote_rank "$tmp/dead")"
wait $pid
rc=$?
sleep 1
left=$(pgrep -f "^$train --spec $tmp/long.json --run-dir $tmp/dead")
report "a rank killed on host b: mpirun ends the job naming it; no process left on a or b" \
  $([ $rc != 0 ] && [ -z "$left" ] && echo 1 || echo 0) "exit $rc; $(grep -m1 'process rank' "$tmp/dead.err")"
