#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Proves the Dockerfile's build without a container engine: runs its RUN lines as
# plain shell in a temporary copy of the repository (git's index: what a fresh clone
# of the next commit has; others' unstaged edits in a shared tree stay out),
# producing the runtime tree the image would get, then checks that tree.
#
#   scripts/docker-build-steps.sh [--workdir DIR]
#
# DIR (kept, for the caller to inspect and remove) gets src/ (the build stage's
# /src) and out/ (its /out, which the runtime stage copies to /opt/podtrail).
# Without --workdir a temporary directory is used and removed.
# Differences from a real image build, each deliberate:
#   - `build-in-image.sh install STAGE` runs as `verify STAGE`: it checks the same
#     Debian packages are installed here instead of installing them on this host.
#   - RUN lines that are not build-in-image.sh or node (the runtime stage's "no
#     compiler on PATH") are image-only; the runtime packages' dependency closure is
#     checked instead.
#   - Node and the Debian packages are this host's, not the node:26 images' (the
#     addon uses N-API, which is ABI-stable; the package names are bookworm's).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
say() { echo "docker-build-steps: $*" >&2; }
die() { say "FAIL: $*"; exit 1; }

work=''
keep=0
while (($#)); do
  case $1 in
    --workdir) work=${2:?--workdir DIR}; keep=1; shift 2 ;;
    *) die "unknown argument $1 (usage: docker-build-steps.sh [--workdir DIR])" ;;
  esac
done
if [[ -z $work ]]; then
  work=$(mktemp -d "${TMPDIR:-/tmp}/podtrail-image.XXXXXX")
  trap 'rm -rf "$work"' EXIT
fi
mkdir -p "$work"
[[ -z $(ls -A "$work") ]] || die "$work is not empty"
src=$work/src out=$work/out

# The build context: the files in git's index, as staged (the Dockerfile too).
command -v git >/dev/null || die "git is needed to list the build context"
mkdir -p "$src"
git -C "$root" checkout-index -a --prefix="$src/"
say "build context: $(git -C "$root" ls-files --cached | wc -l) files from git's index copied to $src"
dockerfile=$src/Dockerfile
[[ -f $dockerfile ]] || die "no Dockerfile in git's index"

# The runtime stage must copy exactly the tree the build stage checked.
grep -qE '^COPY --from=build /out /opt/podtrail$' "$dockerfile" ||
  die "the Dockerfile's runtime stage no longer copies /out to /opt/podtrail; update this script"

map_path() {
  case $1 in
    /src | /src/*) echo "$src${1#/src}" ;;
    /out | /out/*) echo "$out${1#/out}" ;;
    /opt/podtrail | /opt/podtrail/*) echo "$out${1#/opt/podtrail}" ;;
    /*) die "the Dockerfile uses path $1, which this script cannot map" ;;
    *) echo "$1" ;;
  esac
}

ran=0
while IFS= read -r line; do
  read -ra words <<<"${line#RUN }"
  case ${words[0]} in
    build-in-image.sh)
      [[ ${words[1]:-} == install ]] && words[1]=verify
      cmd=(bash "$src/scripts/build-in-image.sh")
      ;;
    node) cmd=(node) ;;
    *) say "image only, not run here: $line"; continue ;;
  esac
  for w in "${words[@]:1}"; do cmd+=("$(map_path "$w")"); done
  say "RUN ${words[*]}  ->  ${cmd[*]}"
  (cd "$src" && "${cmd[@]}") || die "step failed: $line"
  ran=$((ran + 1))
done < <(grep -E '^RUN ' "$dockerfile")
((ran >= 5)) || die "only $ran RUN lines ran; the Dockerfile's shape changed"

# The runtime stage's Debian packages must not bring a compiler in with them
# (gcc-12-base, libgcc-s1's dependency, is only a directory of docs).
read -ra runtime_pkgs <<<"$(bash "$src/scripts/build-in-image.sh" packages runtime)"
closure=$(python3 - "${runtime_pkgs[@]}" <<'EOF'
import re, subprocess, sys
seen, todo = set(), list(sys.argv[1:])
while todo:
    p = todo.pop()
    if p in seen:
        continue
    seen.add(p)
    r = subprocess.run(['dpkg-query', '-W', '-f=${Depends},${Pre-Depends}', p], capture_output=True, text=True)
    for alt in re.split(r'[,|]', r.stdout):
        name = alt.strip().split(' ')[0].split(':')[0]
        if name:
            todo.append(name)
print(' '.join(sorted(seen)))
EOF
)
bad=$(tr ' ' '\n' <<<"$closure" | grep -E '^((gcc|g\+\+|cpp|clang|llvm)(-[0-9]+)?|binutils.*|libclang.*|make)$' || true)
[[ -z $bad ]] || die "runtime packages pull in build tools: $bad"
say "runtime packages' dependency closure ($(wc -w <<<"$closure") packages) has no compiler"

# Every library the addon links must come from a runtime package or from the base image.
base_pkgs=(libc6 libgcc-s1 libstdc++6)
addon=$out/native/build/Release/podtrail.node
while read -r lib path; do
  [[ -n $path && $path != 'not' ]] || die "addon dependency $lib does not resolve"
  real=$(readlink -f "$path")
  owner=$(dpkg -S "$real" 2>/dev/null || dpkg -S "${real#/usr}" 2>/dev/null || dpkg -S "/usr$real" 2>/dev/null || true)
  owner=${owner%%:*}
  [[ -n $owner ]] || die "no Debian package owns $real ($lib)"
  [[ " ${runtime_pkgs[*]} ${base_pkgs[*]} " == *" $owner "* ]] ||
    die "addon links $lib from package $owner, which the runtime stage does not install"
  say "addon links $lib from $owner"
done < <(ldd "$addon" | awk '$2 == "=>" { print $1, $3 }')

# The runtime tree runs on its own: the CLI loads, and doctor loads the addon and
# the BPF object from the tree (this needs root or CAP_BPF+CAP_PERFMON). No
# override may point them back into the repository.
unset PODTRAIL_NATIVE_ADDON PODTRAIL_BPF_OBJECT
help=$(cd / && node "$out/bin/podtrail.js" --help) || die "podtrail --help failed from the runtime tree"
grep -q 'capture' <<<"$help" || die "podtrail --help from the runtime tree lists no capture command"
say "podtrail --help works from the runtime tree"
doctor=$(cd / && node "$out/bin/podtrail.js" doctor 2>&1) || die "podtrail doctor failed from the runtime tree:
$doctor"
say "podtrail doctor works from the runtime tree:"
sed 's/^/    /' <<<"$doctor" >&2
say "OK: runtime tree at $out$( ((keep)) || echo ' (removed on exit)')"
