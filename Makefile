# jetscale — every command a developer or CI types. `make help` lists them.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
export PATH := $(CURDIR)/.tools/bin:$(PATH)

NODE_TEST := node --experimental-vm-modules node_modules/jest/bin/jest.js

.PHONY: help
help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}'

node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch node_modules

.PHONY: deps tools
deps: node_modules ## Install npm packages
tools: ## Build the pinned tools (hack/versions.env) into .tools/bin
	bash hack/tools.sh

.PHONY: build
build: deps ## Compile TypeScript to dist/
	npm run build

.PHONY: lint typecheck
lint: deps ## ESLint + Prettier
	npm run lint
typecheck: deps ## tsc --noEmit for the Node code and the k6 scripts
	npm run typecheck

.PHONY: test test-unit test-integration
test: deps tools lint typecheck ## Everything CI runs: lint, type check, unit and integration tests
	$(NODE_TEST) --selectProjects unit
	$(MAKE) --no-print-directory build
	$(NODE_TEST) --selectProjects integration --runInBand
test-unit: deps ## Unit tests only (nothing running needed)
	$(NODE_TEST) --selectProjects unit
test-integration: deps tools build ## Integration tests on a real NATS + control plane (JETSCALE_TEST_ENV=.dev/env reuses the dev stack)
	$(NODE_TEST) --selectProjects integration --runInBand

.PHONY: dev-up dev-down dev-status
dev-up: deps tools ## Start NATS + a local Kubernetes control plane (kwok) on 127.0.0.1; prints the kubeconfig and env file
	npx tsx hack/stack/dev.ts up
dev-down: deps ## Stop everything dev-up started
	npx tsx hack/stack/dev.ts down
dev-status: deps ## Is the dev stack up?
	npx tsx hack/stack/dev.ts status

# --- packaging: kind demo, Helm deploy (charts/, manifests/, hack/kind/) ---
.PHONY: kind-up kind-down deploy sync-crds
kind-up: ## Create a kind cluster with NATS, Prometheus/Grafana, jetscale and the demo (needs docker, kind, kubectl, helm, k6)
	bash hack/kind/up.sh
kind-down: ## Delete the kind cluster kind-up created
	bash hack/kind/down.sh
JETSCALE_NAMESPACE ?= jetscale-system
deploy: ## helm upgrade --install the operator (charts/jetscale) into the current kubectl context; HELM_ARGS adds flags
	helm upgrade --install jetscale charts/jetscale --namespace $(JETSCALE_NAMESPACE) --create-namespace --wait $(HELM_ARGS)
sync-crds: ## Copy manifests/crd/*.yaml into charts/jetscale/crds/ (test/packaging fails while they differ)
	cp manifests/crd/*.yaml charts/jetscale/crds/
