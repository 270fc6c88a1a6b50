#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The container image's build steps, in one place. The Dockerfile RUNs them, and
# scripts/docker-build-steps.sh runs the same RUN lines as plain shell, so the two
# cannot drift apart.
#
#   build-in-image.sh packages build|runtime  print the Debian packages a stage needs
#   build-in-image.sh install build|runtime   apt-get install them (inside an image only)
#   build-in-image.sh verify build|runtime    check they are installed (dpkg), install nothing
#   build-in-image.sh build SRC               npm ci (BPF object, addon, TypeScript), npm prune --omit=dev
#   build-in-image.sh stage SRC DEST          copy only what runs into DEST
#   build-in-image.sh check DEST              DEST has every artifact, no compiler, no dev package
set -euo pipefail

# python3: node-gyp runs gyp with it (node:26-bookworm happens to carry one; say so anyway).
BUILD_PKGS=(clang llvm libbpf-dev bpftool pkg-config libelf-dev zlib1g-dev make g++ python3)
# What podtrail.node links besides libc/libstdc++/libgcc_s, which node:26-bookworm-slim has.
RUNTIME_PKGS=(libbpf1 libelf1 zlib1g)
# devDependencies that must not reach the runtime tree (npm prune --omit=dev removes them).
# Not @types/node: @grpc/grpc-js and protobufjs (the CRI client) list it as a dependency of
# their own, so it stays; it is type declarations only, nothing in it runs.
DEV_MODULES=(typescript node-gyp fast-check patch-package ajv puppeteer-core)

die() { echo "build-in-image: $*" >&2; exit 1; }
say() { echo "build-in-image: $*" >&2; }

pkgs() {
  case "${1:-}" in
    build) echo "${BUILD_PKGS[@]}" ;;
    runtime) echo "${RUNTIME_PKGS[@]}" ;;
    *) die "stage must be build or runtime, not '${1:-}'" ;;
  esac
}

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

cmd_install() {
  local list
  read -ra list <<<"$(pkgs "$1")"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${list[@]}"
  # Keep the layer small: the package lists are only needed to install.
  rm -rf /var/lib/apt/lists/*
}

cmd_verify() {
  local list missing=()
  read -ra list <<<"$(pkgs "$1")"
  for p in "${list[@]}"; do installed "$p" || missing+=("$p"); done
  ((${#missing[@]} == 0)) || die "$1 stage packages not installed: ${missing[*]}"
  say "$1 stage packages installed: ${list[*]}"
}

cmd_build() {
  local src=${1:?build SRC}
  [[ -f $src/package-lock.json ]] || die "no package-lock.json in $src"
  cd "$src"
  # npm ci runs `prepare` = npm run build (make -C bpf, the addon, tsc).
  npm ci --no-audit --no-fund
  npm prune --omit=dev --no-audit --no-fund
}

# What the runtime needs, and why each is there:
#   bin/, dist/src/     the CLI (dist/test and dist/bench are not shipped)
#   package.json        `podtrail --version`, and "type": "module" for dist/
#   native/binding.gyp  the marker src/capture/native-binding.ts finds the root by
#   src/schema          the .avsc files and history/, read at run time
#   src/runtime/cri     cri.proto, the CRI subset the client loads at run time
RUNTIME_FILES=(package.json bin dist/src node_modules bpf/.output/podtrail.bpf.o
  native/binding.gyp native/build/Release/podtrail.node src/schema/history src/runtime/cri/cri.proto)

cmd_stage() {
  local src=${1:?stage SRC DEST} dest=${2:?stage SRC DEST}
  mkdir -p "$dest"
  (cd "$src" && for f in "${RUNTIME_FILES[@]}"; do [[ -e $f ]] || die "missing build output $src/$f"; done)
  (cd "$src" && tar -cf - "${RUNTIME_FILES[@]}" src/schema/*.avsc src/ui/static) | tar -xf - -C "$dest"
  say "staged the runtime tree in $dest ($(du -sh "$dest" | cut -f1))"
}

cmd_check() {
  local dest=${1:?check DEST} bad
  for f in "${RUNTIME_FILES[@]}" src/schema/raw-connect-event.avsc src/ui/static/index.html; do
    [[ -e $dest/$f ]] || die "runtime tree lacks $f"
  done
  for m in "${DEV_MODULES[@]}"; do
    [[ ! -e $dest/node_modules/$m ]] || die "runtime tree carries the devDependency $m"
  done
  # Compiler names as executables or links (node-addon-api's tools/clang-format.js is
  # a plain script), and object files other than the BPF object.
  bad=$(find "$dest" \( \( \( -type l -o -type f -perm /111 \) \( -name 'clang*' -o -name 'gcc*' -o -name 'g++*' \
    -o -name 'cc' -o -name 'c++' -o -name 'cc1*' -o -name 'llc' -o -name 'ld' -o -name 'ld.*' -o -name 'bpftool' \) \) \
    -o \( -name '*.o' ! -name '*.bpf.o' \) \) -print)
  [[ -z $bad ]] || die "runtime tree carries build tools or objects: $bad"
  # Every ELF file must be a Node addon: no compiler, linker or stray executable.
  bad=$(node -e '
    const fs = require("node:fs"), path = require("node:path");
    const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => {
      const p = path.join(d, e.name);
      if (e.isDirectory()) return walk(p);
      if (!e.isFile() || p.endsWith(".node") || p.endsWith(".bpf.o")) return [];
      const b = Buffer.alloc(4), fd = fs.openSync(p, "r");
      const n = fs.readSync(fd, b, 0, 4, 0); fs.closeSync(fd);
      return n === 4 && b.toString("latin1") === "\x7fELF" ? [p] : [];
    });
    console.log(walk(process.argv[1]).join("\n"));' "$dest")
  [[ -z $bad ]] || die "runtime tree carries ELF files other than addons: $bad"
  say "runtime tree $dest: artifacts present, no compiler, no devDependency"
}

case "${1:-}" in
  packages) pkgs "${2:-}" ;;
  install) pkgs "${2:-}" >/dev/null && cmd_install "$2" ;;
  verify) pkgs "${2:-}" >/dev/null && cmd_verify "$2" ;;
  build) cmd_build "${2:-}" ;;
  stage) cmd_stage "${2:-}" "${3:-}" ;;
  check) cmd_check "${2:-}" ;;
  *) die "usage: build-in-image.sh packages|install|verify build|runtime | build SRC | stage SRC DEST | check DEST" ;;
esac
