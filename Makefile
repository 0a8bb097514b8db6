# The two commands a newcomer needs: `make run` and `make test`. Both set up what is missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.logway-installed

.PHONY: setup tools chromium run test lint unit integration up down status clean bench chaos

PROMTOOL := .logway/tools/promtool
PROMTOOL_VERSION := v0.316.0
PROMETHEUS := .logway/tools/prometheus
HELM := .logway/tools/helm
HELM_VERSION := v3.22.0
KUBECONFORM := .logway/tools/kubeconform
KUBECONFORM_VERSION := v0.8.0
K8S_SCHEMAS := .logway/tools/k8s-schemas

setup: $(STAMP)

$(STAMP): pyproject.toml
	@echo "==> creating $(VENV) and installing logway with its pinned dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

## The main job on the embedded default: servers up, example tenants applied, processor and
## sink running, demo traffic, a live per-tenant line. Ctrl-C stops what it started.
run: setup
	$(BIN)/logway dev up --no-kubernetes
	eval "$$($(BIN)/logway dev env)" && $(BIN)/logway apply examples/tenants && \
	  $(BIN)/logway run all --demo

## Tools the tests run: promtool (Prometheus rule tests), Prometheus (the dashboards' queries),
## helm and kubeconform (the chart), built with Go, first time ~7 min together; Kubernetes schemas for kubeconform, generated from
## the Go module proxy's sources; Debian's chromium (the status page test), first time ~1 min.
tools: $(PROMTOOL) $(PROMETHEUS) $(HELM) $(KUBECONFORM) $(K8S_SCHEMAS) chromium

$(HELM):
	@echo "==> building helm $(HELM_VERSION) with go install (first time only)"
	GOBIN=$(abspath .logway/tools) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(KUBECONFORM):
	@echo "==> building kubeconform $(KUBECONFORM_VERSION) with go install (first time only)"
	GOBIN=$(abspath .logway/tools) go install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

$(K8S_SCHEMAS): helm/schemas.sh helm/k8s_schemas.py | setup
	bash helm/schemas.sh $@ $(BIN)/python

chromium:
	@command -v chromium >/dev/null || { \
	  echo "==> installing Debian's chromium (headless browser for the status-page test)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends chromium; }

$(PROMTOOL):
	@echo "==> building promtool $(PROMTOOL_VERSION) with go install (first time only)"
	GOBIN=$(abspath .logway/tools) go install github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION)

# The Prometheus server the dashboard test scrapes the workers with (its API only: the web
# UI's assets are not in the Go module), from the same release as promtool.
$(PROMETHEUS):
	@echo "==> building prometheus $(PROMTOOL_VERSION) with go install (first time only)"
	GOBIN=$(abspath .logway/tools) go install github.com/prometheus/prometheus/cmd/prometheus@$(PROMTOOL_VERSION)

## Lint, type-check, check the import layers (.importlinter), then every test (unit +
## integration against the real servers).
test: lint tools
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: setup
	$(BIN)/pytest tests/unit

## Benchmarks are programs, not tests: each prints a table and writes bench/results/*.json.
## The whole pipeline against Kafka's perf tools and a direct bulk load (bench/results/<date>-
## <commit>.json); the processor against the raw Kafka clients; the gateway against
## Kafka's ProducerPerformance; a new tenant's first line, from apply to searchable; the
## operator (a change to Ready and to the first document, admission, 300 resources); a noisy
## neighbour (a tenant flooding at 12 times its limit beside a steady one); 3 to 1,000 tenants
## at the same load; two of each worker over 1,000 tenants, one of each killed under load.
## The node agent and OTLP in beside the broker's own produce rate. About an hour.
bench: setup
	$(BIN)/logway dev up
	eval "$$($(BIN)/logway dev env)" && $(BIN)/python -m bench.pipeline && \
	  $(BIN)/python -m bench.processor && $(BIN)/python -m bench.gateway && \
	  $(BIN)/python -m bench.new_tenant && $(BIN)/python -m bench.new_tenant --served 1000 && \
	  $(BIN)/python -m bench.operator && \
	  $(BIN)/python -m bench.noisy_neighbour && $(BIN)/python -m bench.tenants && \
	  $(BIN)/python -m bench.replicas && $(BIN)/python -m bench.agents

## Every fault scenario, the long ones too (each process killed 5 times under load,
## Elasticsearch down 10 minutes, brokers and the controller killed, a rolling restart, the
## API server restarted), on a cluster shaped like production: three Kafka brokers
## (replication 3, min.insync.replicas 2) reached over SASL_SSL as the platform user, and the
## secured Elasticsearch, kept apart in .logway/cluster. The single-broker dev servers are
## stopped first (they share Elasticsearch's and the API server's ports), the cluster after.
## Writes the ledger table to bench/results/chaos-<date>-<commit>.json. About 50 minutes.
CLUSTER := LOGWAY_HOME=$(abspath .logway/cluster) LOGWAY_DIST=$(abspath .logway/dist) \
	LOGWAY_DEV_KAFKA_BROKERS=3
chaos: setup
	$(BIN)/logway dev down
	$(CLUSTER) $(BIN)/logway dev up
	status=0; eval "$$($(CLUSTER) $(BIN)/logway dev env --secured-kafka)" && \
	  $(CLUSTER) LOGWAY_CHAOS_LEDGER=1 $(BIN)/pytest -m fault tests/fault -s || status=$$?; \
	  $(CLUSTER) $(BIN)/logway dev down; exit $$status

up: setup
	$(BIN)/logway dev up
down: setup
	$(BIN)/logway dev down
status: setup
	$(BIN)/logway dev status

## Stop the servers and delete everything they stored and fetched.
clean: setup
	$(BIN)/logway dev clean --all
