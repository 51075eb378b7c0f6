#!/usr/bin/env bash
# `make kind-up`: the whole jetscale demo on a local kind cluster — NATS JetStream (3 servers),
# kube-prometheus-stack with the remote-write receiver for k6 and the jetscale dashboards, the
# operator and workload images built here and loaded into kind, the operator and the demo.
# Every step is idempotent: re-running after a failure picks up where it broke.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=hack/kind/lib.sh
source "$ROOT/hack/kind/lib.sh"
# shellcheck source=hack/versions.env
source "$ROOT/hack/versions.env"
trap on_error ERR

CLUSTER="${KIND_CLUSTER_NAME:-jetscale}"
# kind publishes node images per Kubernetes patch release; override when the pinned patch has none.
NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:${KUBERNETES_VERSION}}"
IMAGE_TAG="${JETSCALE_IMAGE_TAG:-dev}"
OPERATOR_IMAGE="jetscale/operator:${IMAGE_TAG}"
WORKLOADS_IMAGE="jetscale/workloads:${IMAGE_TAG}"
CONTEXT="kind-${CLUSTER}"
MONITORING_NS=monitoring
OPERATOR_NS=jetscale-system
DEMO_NS=jetscale-demo
GRAFANA_PASSWORD=jetscale # hack/kind/values/kube-prometheus-stack.yaml

step "checking prerequisites"
require_tools docker kind kubectl helm k6
if ! docker info >/dev/null 2>&1; then
  echo "docker is installed but its daemon is not reachable (is Docker Desktop / dockerd running?)" >&2
  false
fi

step "creating kind cluster ${CLUSTER} (${NODE_IMAGE})"
if kind get clusters | grep -qx "$CLUSTER"; then
  echo "cluster ${CLUSTER} already exists; reusing it"
else
  kind create cluster --name "$CLUSTER" --image "$NODE_IMAGE" --config "$ROOT/manifests/kind/cluster.yaml" --wait 120s
fi
kubectl config use-context "$CONTEXT" >/dev/null
# Every later kubectl/helm call names the context, so a user switching contexts meanwhile is safe.
KUBECTL=(kubectl --context "$CONTEXT")
HELM=(helm --kube-context "$CONTEXT")

step "adding Helm repositories (nats, prometheus-community)"
helm repo add nats https://nats-io.github.io/k8s/helm/charts/ --force-update >/dev/null
helm repo add prometheus-community https://prometheus-community.github.io/helm-charts --force-update >/dev/null
helm repo update nats prometheus-community >/dev/null

step "installing kube-prometheus-stack (Prometheus with remote-write receiver, Grafana)"
"${HELM[@]}" upgrade --install kube-prometheus-stack prometheus-community/kube-prometheus-stack \
  --namespace "$MONITORING_NS" --create-namespace \
  --values "$ROOT/hack/kind/values/kube-prometheus-stack.yaml" \
  --wait --timeout 10m

step "building images ${OPERATOR_IMAGE} and ${WORKLOADS_IMAGE}"
for dockerfile in operator/Dockerfile workloads/Dockerfile; do
  if [[ ! -f "$ROOT/$dockerfile" ]]; then
    echo "$dockerfile is missing: the image cannot be built" >&2
    false
  fi
done
docker build --file "$ROOT/operator/Dockerfile" --tag "$OPERATOR_IMAGE" "$ROOT"
docker build --file "$ROOT/workloads/Dockerfile" --tag "$WORKLOADS_IMAGE" "$ROOT"

step "loading images into kind"
kind load docker-image --name "$CLUSTER" "$OPERATOR_IMAGE" "$WORKLOADS_IMAGE"

step "installing the jetscale operator (charts/jetscale) into ${OPERATOR_NS}"
"${HELM[@]}" upgrade --install jetscale "$ROOT/charts/jetscale" \
  --namespace "$OPERATOR_NS" --create-namespace \
  --set image.repository=jetscale/operator --set image.tag="$IMAGE_TAG" --set image.pullPolicy=Never \
  --set serviceMonitor.enabled=true \
  --wait --timeout 5m

step "fetching the NATS chart for charts/jetscale-demo (helm dependency update)"
helm dependency update "$ROOT/charts/jetscale-demo"

step "installing the demo (NATS JetStream x3, gateway, consumer, EventConsumer) into ${DEMO_NS}"
"${HELM[@]}" upgrade --install jetscale-demo "$ROOT/charts/jetscale-demo" \
  --namespace "$DEMO_NS" --create-namespace \
  --set image.repository=jetscale/workloads --set image.tag="$IMAGE_TAG" --set image.pullPolicy=Never \
  --set monitoring.podMonitor.enabled=true \
  --set gateway.service.type=NodePort \
  --wait --timeout 10m

step "checking that the EventConsumer is reconciled"
"${KUBECTL[@]}" --namespace "$DEMO_NS" wait eventconsumer --all --for=condition=Ready --timeout=180s
"${KUBECTL[@]}" --namespace "$DEMO_NS" get eventconsumers,deployments

step "done"
cat <<MSG
jetscale is running on kind cluster ${CLUSTER} (context ${CONTEXT}).

  Grafana     http://127.0.0.1:3000   login admin / ${GRAFANA_PASSWORD}   dashboard: jetscale
  Prometheus  http://127.0.0.1:9090   (k6 remote write: http://127.0.0.1:9090/api/v1/write)
  Gateway     http://127.0.0.1:8080

Next: drive a spike and watch the consumer Deployment scale:
  make loadtest
Remove everything with: make kind-down
MSG
