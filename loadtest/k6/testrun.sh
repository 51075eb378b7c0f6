#!/usr/bin/env bash
# `make loadtest-incluster SCENARIO=spike`: runs a jetscale k6 scenario inside the cluster through
# the k6-operator. k6 takes one script file from a ConfigMap, so jetscale.ts and the shared profiles
# are bundled into one ES module first (esbuild, already installed with tsx; k6 modules stay
# external), then manifests/k6/testrun.yaml is applied with this scenario and a fresh test id.
# Usage: testrun.sh SCENARIO NAMESPACE RATE_SCALE
set -euo pipefail
scenario="${1:-spike}"
namespace="${2:-jetscale-demo}"
rate_scale="${3:-1}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$root/.cache/k6"
testid="${scenario}-$(date -u +%Y%m%dT%H%M%SZ)"
kubectl=(kubectl --namespace "$namespace")

if ! kubectl get crd testruns.k6.io >/dev/null 2>&1; then
  echo "the k6-operator is not installed in this cluster (TestRun CRD missing):" >&2
  echo "  helm repo add grafana https://grafana.github.io/helm-charts && helm install k6-operator grafana/k6-operator -n k6-operator-system --create-namespace" >&2
  exit 2
fi

mkdir -p "$out"
"$root/node_modules/.bin/esbuild" "$root/loadtest/k6/jetscale.ts" --bundle --format=esm --platform=neutral --target=es2020 \
  --external:k6 '--external:k6/*' --log-level=warning --outfile="$out/jetscale.js"
"${kubectl[@]}" create configmap jetscale-k6-script --from-file=jetscale.js="$out/jetscale.js" --dry-run=client -o yaml |
  "${kubectl[@]}" apply -f -

# A TestRun runs once: replace the previous one of this scenario.
"${kubectl[@]}" delete testrun "jetscale-${scenario}" --ignore-not-found --wait
sed -e "s/name: jetscale-spike/name: jetscale-${scenario}/" \
  -e "s/namespace: jetscale-demo/namespace: ${namespace}/" \
  -e "s/testid=spike-incluster/testid=${testid}/" \
  -e "s/value: spike-incluster/value: ${testid}/" \
  -e "s/value: spike$/value: ${scenario}/" \
  -e "s/value: '1'/value: '${rate_scale}'/" \
  -e "s/jetscale-demo-gateway.jetscale-demo.svc/jetscale-demo-gateway.${namespace}.svc/" \
  "$root/manifests/k6/testrun.yaml" | "${kubectl[@]}" apply -f -

echo "TestRun jetscale-${scenario} started (test id ${testid}); Grafana: filter the k6 dashboard by testid=${testid}"
# stage goes initialization → initialized → created → started → finished (or error).
"${kubectl[@]}" wait "testrun/jetscale-${scenario}" --for=jsonpath='{.status.stage}'=finished --timeout=60m
"${kubectl[@]}" logs --selector "k6_cr=jetscale-${scenario},runner=true" --tail=40 || true
