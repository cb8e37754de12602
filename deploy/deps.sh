#!/usr/bin/env bash
# Installs the Debian packages simmimd needs, only those missing.
#   deploy/deps.sh          build + test packages
#   deploy/deps.sh --check  exit 1 if any build/test package is missing, install nothing
#   deploy/deps.sh --dev    also PyTorch (golden fixtures, `make bench` yardstick), linux-perf
#                           (tests/bench/profile.sh), and for `make bench-data` torchvision (the
#                           DataLoader yardstick), PIL and mate-backgrounds (the photographs)
#   deploy/deps.sh --fuzz   also clang and its libFuzzer and sanitizer runtimes (`make fuzz`)
#   deploy/deps.sh --reliability  also wrk, the HTTP load generator (`make reliability`)
set -euo pipefail

packages=(build-essential pkg-config libopenblas-dev libmicrohttpd-dev libjansson-dev
          libsqlite3-dev libpng-dev libjpeg62-turbo-dev libarchive-dev zlib1g-dev
          dataset-fashion-mnist curl python3 chromium
          openmpi-bin libopenmpi-dev) # train.ranks > 1: simmim-train under mpirun (make MPI=0: without)
# The dashboard's build and browser tests need Node.js and npm; any install of them will do
# (Debian's packages, or NodeSource's nodejs which bundles npm).
command -v npm > /dev/null || packages+=(nodejs npm)
check_only=0
for arg in "$@"; do
  case "$arg" in
    --check) check_only=1 ;;
    --dev) packages+=(python3-torch linux-perf python3-torchvision python3-pil mate-backgrounds) ;;
    --fuzz) packages+=(clang libclang-rt-14-dev) ;;
    --reliability) packages+=(wrk) ;;
    *) echo "deps.sh: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ $check_only -eq 1 ]; then
  echo "missing Debian packages: ${missing[*]}" >&2
  exit 1
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
