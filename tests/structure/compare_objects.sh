#!/usr/bin/env bash
# Shows that a change moved code without changing it: builds revisions OLD (default HEAD~1)
# and NEW (default HEAD), each in a worktree of its own under build/compare, and compares the disassembly (objdump -d) of
# every object of core/ — the trainer's objects — matched by file name, so files that moved
# between folders still pair up (an old core/X_main.o pairs with core/cmd/simmim-X.o).
# Then, unless COMPARE_BENCH=0, runs bench_step's fmnist-q pretraining step of both builds,
# interleaved over COMPARE_ROUNDS rounds (default 5), and prints the median ratio new/old.
#   tests/structure/compare_objects.sh [OLD [NEW]]
# Exit status 1 if an object's code differs or has no partner.
set -euo pipefail
cd "$(dirname "$0")/../.."
old=${1:-HEAD~1}
new=${2:-HEAD}
work=build/compare
mkdir -p "$work"

# Builds a revision in a worktree of its own; prints the worktree's path.
build_rev() {
  local rev=$1 dir=$work/$2
  [ -d "$dir" ] && git worktree remove --force "$dir"
  git worktree add --detach "$dir" "$rev" > /dev/null
  make -C "$dir" -j2 build/libsimmimcore.a build/simmim-train build/simmim-eval build/bench_step \
    > "$dir.log" 2>&1 || {
    echo "building $rev failed; see $dir.log" >&2; exit 1; }
  echo "$dir"
}

old_dir=$(build_rev "$old" old)
new_dir=$(build_rev "$new" new)

# The object's instructions without its file name line; simmim-X and X_main are one program.
disassembly() { objdump -d --no-show-raw-insn "$1" | tail -n +3; }
key_of() { local b; b=$(basename "$1" .o); case "$b" in *_main) echo "simmim-${b%_main}" ;; *) echo "$b" ;; esac; }

declare -A new_objects
while read -r o; do new_objects[$(key_of "$o")]=$o; done < <(find "$new_dir/build/obj/core" -name '*.o')
same=0
differ=0
while read -r o; do
  k=$(key_of "$o")
  n=${new_objects[$k]:-}
  if [ -z "$n" ]; then echo "missing: $k (no object of that name in the new build)"; differ=$((differ + 1)); continue; fi
  unset "new_objects[$k]"
  if cmp -s <(disassembly "$o") <(disassembly "$n"); then
    echo "identical: ${o#"$old_dir/build/obj/"} -> ${n#"$new_dir/build/obj/"}"
    same=$((same + 1))
  else
    echo "differs: ${o#"$old_dir/build/obj/"} -> ${n#"$new_dir/build/obj/"} ($(diff <(disassembly "$o") <(disassembly "$n") | grep -c '^[<>]') lines)"
    differ=$((differ + 1))
  fi
done < <(find "$old_dir/build/obj/core" -name '*.o' | sort)
for k in "${!new_objects[@]}"; do echo "new: ${new_objects[$k]#"$new_dir/build/obj/"}"; differ=$((differ + 1)); done
echo "objects: $same identical, $differ differ or unpaired"

if [ "${COMPARE_BENCH:-1}" != 0 ]; then
  args=(--preset fmnist-q --kind pretrain --batch 256 --steps 3 --reps 1 --threads 2)
  ratios=()
  for round in $(seq "${COMPARE_ROUNDS:-5}"); do
    o=$("$old_dir/build/bench_step" "${args[@]}")
    n=$("$new_dir/build/bench_step" "${args[@]}")
    echo "round $round old: $o"
    echo "round $round new: $n"
    ratios+=("$(python3 -c 'import json,sys; print(json.loads(sys.argv[2])["img_per_s"] / json.loads(sys.argv[1])["img_per_s"])' "$o" "$n")")
  done
  printf '%s\n' "${ratios[@]}" | sort -g | awk '{r[NR]=$1} END {printf "bench_step fmnist-q pretrain, images/s new/old: median %.3f over %d rounds\n", r[int((NR+1)/2)], NR}'
fi
[ "$differ" -eq 0 ]
