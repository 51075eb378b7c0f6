#!/usr/bin/env bash
# `make images`: builds the operator and workloads images from operator/Dockerfile and
# workloads/Dockerfile, tagged with the version (default: package.json's version):
#   jetscale/operator:<tag>  jetscale/workloads:<tag>
# The base is the Dockerfiles' public image (node:<major>-slim) when docker has it or can pull it;
# otherwise hack/base-image.sh builds a stand-in offline and the build uses that
# (--build-arg BASE_IMAGE). BASE_IMAGE=<image> forces a base. Prints build times and sizes.
# Leaves no dangling image of its own behind (the stage images are tagged jetscale/<image>-stage:*,
# the build cache; see below). Each docker build's output goes to reports/images/<image>[-<stage>].log,
# not to the terminal or the CI log (a line per build says so); a build that fails prints the last
# BUILD_TAIL_LINES lines of its output and exits 1.
# Usage: hack/images.sh [tag]
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log() { printf '\033[1m[images]\033[0m %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

command -v docker >/dev/null || die "docker is not installed (Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 || die "the docker daemon is not reachable: start dockerd (or Docker Desktop) first"

tag=${1:-$(node -p "require('$root/package.json').version")}
[[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "'$tag' is not a valid image tag (letters, digits, _ . -)"

public=$(sed -n 's/^ARG BASE_IMAGE=\(.*\)$/\1/p' "$root/operator/Dockerfile")
[ -n "$public" ] || die "operator/Dockerfile has no 'ARG BASE_IMAGE=' line"
base=${BASE_IMAGE:-}
if [ -z "$base" ]; then
  if docker image inspect "$public" >/dev/null 2>&1 || timeout 120 docker pull -q "$public" >/dev/null 2>&1; then
    base=$public
  else
    log "$public cannot be pulled here: building the offline stand-in (hack/base-image.sh)"
    base=$(bash "$root/hack/base-image.sh")
  fi
fi
log "base image: $base"

# BuildKit when buildx is installed; otherwise the legacy builder (Debian's docker.io has no buildx).
builder=(docker build)
legacy=
docker buildx version >/dev/null 2>&1 || { builder=(env DOCKER_BUILDKIT=0 docker build); legacy=1; }

build_logs=$root/reports/images
BUILD_TAIL_LINES=60
mkdir -p "$build_logs"
# build <log name> <docker build arguments…>: the build's output to its log; its tail when it fails.
build() {
  local file=$build_logs/$1.log
  shift
  if ! "${builder[@]}" "$@" >"$file" 2>&1; then
    log "docker build FAILED; the last $BUILD_TAIL_LINES lines of its output (all of it in ${file#"$root"/}):"
    tail -n "$BUILD_TAIL_LINES" "$file" >&2
    exit 1
  fi
}

# The legacy builder keeps each stage before the last as an untagged image (the build stage with
# its dev dependencies is ~600 MB), and a rebuild leaves the previous ones dangling. So: build the
# stages first under tags of their own (jetscale/<image>-stage:<stage>, the cache the next build
# starts from), and after the build prune the dangling images that carry jetscale's labels: stage
# images (io.jetscale.stage, the Dockerfiles' last step of each stage) and images a rebuild under
# the same tag replaced (io.jetscale.image). Images without these labels are not touched.
for image in operator workloads; do
  start=$SECONDS
  # --network host: the build's npm ci reaches the registry the way this host does (proxies, DNS).
  common=(--network host --build-arg "BASE_IMAGE=$base" -f "$root/$image/Dockerfile")
  if [ -n "$legacy" ]; then
    for stage in build production-deps; do
      log "docker build --target $stage -t jetscale/$image-stage:$stage (output in reports/images/$image-$stage.log)"
      build "$image-$stage" "${common[@]}" --target "$stage" -t "jetscale/$image-stage:$stage" "$root"
    done
  fi
  log "docker build -f $image/Dockerfile -t jetscale/$image:$tag (output in reports/images/$image.log)"
  build "$image" "${common[@]}" \
    --label "org.opencontainers.image.version=$tag" --label "io.jetscale.image=$image" \
    -t "jetscale/$image:$tag" "$root"
  size=$(docker image inspect --format '{{ .Size }}' "jetscale/$image:$tag" | awk '{ printf "%d MB", $1 / 1e6 }')
  log "jetscale/$image:$tag built in $((SECONDS - start)) s ($size)"
done

for label in io.jetscale.stage io.jetscale.image; do
  reclaimed=$(docker image prune --force --filter "label=$label" | sed -n 's/^Total reclaimed space: //p')
  log "pruned dangling images labelled $label: ${reclaimed:-0B} reclaimed"
done
