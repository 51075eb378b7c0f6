#!/usr/bin/env bash
# make test-compat K8S_VERSION=v1.27.16: runs the CRD, RBAC, chart-install and operator integration
# tests against an older Kubernetes control plane (and checks that /version says that release). hack/tools.sh builds that release's kube-apiserver,
# kube-controller-manager, kube-scheduler and kubectl the way it builds the pinned ones, into
# .tools-compat/<version>/bin from a wrapper module generated in .tools-compat/<version>/module;
# .tools/bin and hack/tools/kubernetes are never touched. etcd, nats-server and kwok are the pinned
# builds (make tools), helm too. The first run for a version builds for 20-60 min on 2 cores (under nice);
# later runs reuse the binaries.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=${1:-${K8S_VERSION:-}}
if ! [[ $version =~ ^v1\.[0-9]+\.[0-9]+$ ]]; then
  echo "test-compat: K8S_VERSION must name a Kubernetes release such as v1.27.16 (got '${version}')" >&2
  exit 2
fi
dir="$root/.tools-compat/$version"
pinned="${JETSCALE_TOOLS_BIN:-$root/.tools/bin}"
for tool in etcd nats-server kwok kwokctl helm; do
  if [ ! -x "$pinned/$tool" ]; then
    echo "test-compat: $pinned/$tool is missing: run make tools first" >&2
    exit 2
  fi
done

# k8s.io/legacy-cloud-providers (a dependency of k8s.io/kubernetes up to v1.29): the checksum
# database answers 404 for its v0.27.x versions, so go mod tidy fails on it. Leaving it out of the
# checksum database check is the one exception; go.sum still records and go mod verify checks it.
export GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}k8s.io/legacy-cloud-providers"
JETSCALE_COMPAT_DIR="$dir" JETSCALE_COMPAT_KUBERNETES_VERSION="$version" \
  nice -n 10 bash "$root/hack/tools.sh" kubernetes
for tool in etcd nats-server kwok kwokctl helm; do ln -sf "$pinned/$tool" "$dir/bin/$tool"; done

cd "$root"
make --no-print-directory build
# kwokctl picks the components' flags by this version (KWOK_KUBE_VERSION), not by its own pin.
echo "test-compat: CRD, RBAC, chart and operator integration tests on Kubernetes $version" >&2
JETSCALE_TOOLS_BIN="$dir/bin" KWOK_KUBE_VERSION="$version" JETSCALE_EXPECT_KUBE_VERSION="$version" \
  node --experimental-vm-modules node_modules/jest/bin/jest.js --selectProjects integration --runInBand \
  --testPathPatterns '(test/foundation/kube-version|test/packaging/operator-chart|operator/test/(crd-validation|rbac|scaling|multi-consumer|missing-consumer|migrate))\.int\.test\.ts$'
