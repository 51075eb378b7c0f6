#!/usr/bin/env bash
# `make kind-down`: deletes the kind cluster `make kind-up` created (and with it everything in it).
# Images stay in the local Docker cache so the next kind-up builds faster.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=hack/kind/lib.sh
source "$ROOT/hack/kind/lib.sh"
trap on_error ERR

CLUSTER="${KIND_CLUSTER_NAME:-jetscale}"

step "checking prerequisites"
require_tools docker kind

step "deleting kind cluster ${CLUSTER}"
if kind get clusters | grep -qx "$CLUSTER"; then
  kind delete cluster --name "$CLUSTER"
else
  echo "no kind cluster named ${CLUSTER}; nothing to delete"
fi
