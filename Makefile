# The verbs a newcomer uses. Every target installs what it needs itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PROTOS := $(shell find protos -name '*.proto')
STAMP  := $(VENV)/.installed

.PHONY: run run-scaled test docs lint proto model bench bench-ava bench-events bench-catalog bench-sink bench-collect bench-compact bench-interchange bench-learning bench-evaluate bench-experiment bench-aa bench-spark loadtest preview image clean chaos soak

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' \
		| xargs -I{} sh -c 'echo "$(CURDIR)/gen" > {}/keyart_gen.pth'
	touch $@

gen/.stamp: $(STAMP) $(PROTOS) Makefile
	rm -rf gen && mkdir -p gen
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=gen --pyi_out=gen \
		--grpc_python_out=gen $(PROTOS)
	# Regular packages, not namespace ones: a `keyart` folder elsewhere on sys.path (a clone
	# named keyart, seen from its parent) can then neither shadow nor merge with the stubs.
	find gen -mindepth 1 -type d -exec touch {}/__init__.py \;
	touch $@

proto: gen/.stamp

# Builds the bundled ranking model from its recipe (ranker/model_recipe.py).
model: proto
	$(PY) -m services.ranker.model_recipe --out var/models/bundled.onnx

run: proto model
	$(VENV)/bin/keyart run

# The production shape on this machine (docs/run-scaled.md); installs PostgreSQL, Redis and nats-server when root.
run-scaled: proto
	$(VENV)/bin/keyart run-scaled $(if $(DATA_DIR),--data-dir $(DATA_DIR))

# The preview page against a running suite (`make run` starts one itself); draws missing demo pictures first.
preview: proto
	$(PY) -m demo.images
	$(PY) -m preview.server

test: docs proto model $(VENV)/.spark-installed
	$(PY) -m pytest -q tests

# pyspark for `--engine spark` and its tests (requirements-spark.txt): not needed by `make run`.
$(VENV)/.spark-installed: requirements-spark.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-spark.txt
	touch $@

# The docs site (mkdocs.yml): --strict fails on a broken link or anchor and on a page missing from the nav.
docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir var/site

$(VENV)/.docs-installed: requirements-docs.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-docs.txt
	touch $@

# ruff (lint, format check), mypy (settings and files in pyproject.toml; the stubs in gen/),
# buf lint (STANDARD, buf.yaml) and buf breaking against HEAD~1's protos (.ci/buf-breaking).
# Every check runs, so one run shows all findings; it fails if any check failed.
BUF_AGAINST ?= HEAD~1
BUF         := node_modules/.bin/buf
lint: proto $(VENV)/.lint-installed $(BUF)
	@failed=""; \
	$(VENV)/bin/ruff check . || failed="$$failed ruff-check"; \
	$(VENV)/bin/ruff format --check . || failed="$$failed ruff-format"; \
	$(VENV)/bin/mypy || failed="$$failed mypy"; \
	$(BUF) lint || failed="$$failed buf-lint"; \
	.ci/buf-breaking $(BUF) $(BUF_AGAINST) || failed="$$failed buf-breaking"; \
	if [ -n "$$failed" ]; then echo "make lint: failed:$$failed" >&2; exit 1; fi; \
	echo "make lint: ruff, mypy and buf all pass"

$(VENV)/.lint-installed: requirements-lint.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-lint.txt
	touch $@

# The buf CLI from the npm registry, pinned by package-lock.json, installed here, not globally.
$(BUF): package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# The fault, overload and durability tests at length, on the reference page, printing figures.
chaos: proto model
	KEYART_CHAOS_LONG=1 $(PY) -m pytest -q -s tests/e2e/test_faults.py tests/e2e/test_overload.py \
		tests/e2e/test_durability.py tests/e2e/test_pipeline_chaos.py

# Constant load at ~70% of capacity for SOAK_S seconds; last line: summary: errors=… p99_drift_pct=… rss_growth_pct=…
SOAK_S ?= 600
soak: proto model
	$(PY) -m bench.soak --seconds $(SOAK_S)

# Figures, not pass/fail: the reference page against the floor and VW (about 5 minutes).
bench: proto model $(VENV)/.bench-installed
	$(PY) -m bench

$(VENV)/.bench-installed: requirements-bench.txt $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	touch $@

# ghz when it is on PATH, else the built-in generator reading the same config.
LOADTEST_CONFIG ?= loadtest/render_page.json
loadtest: proto
	@if command -v ghz >/dev/null; then ghz --config $(LOADTEST_CONFIG); \
	else $(PY) -m loadgen --config $(LOADTEST_CONFIG); fi

# AVA throughput on a generated 1080p video (short run, extrapolated to an hour).
bench-ava: proto
	$(PY) -m services.artwork.ava.bench

# Viewer history import: events/s into each profile store over gRPC and in process (~3 minutes).
bench-events: proto
	$(PY) -m bench.events_import

# Log compaction into the Parquet dataset: 400 reference pages, speed and peak RSS (~30 s).
bench-compact: proto
	$(PY) -m bench.compact

# DSJSON import and export: wall time, CPU time and peak RSS at 2,000 and 8,000 decisions × 80 candidates.
bench-interchange: proto
	$(PY) -m bench.interchange

# Catalog scale: 20,000 imported titles × 30 candidates beside the demo (~10 minutes).
bench-catalog: proto model
	$(PY) -m bench.catalog_scale

# `keyart evaluate --dataset` on 1,000,000 synthetic decisions × 80 shared candidates: wall time
# and peak RSS (about 15 minutes on the shared 2-core machine); last line summary: decisions=… peak_rss_mib=…
bench-evaluate: proto
	$(PY) -m bench.evaluate_scale

# evaluate --dataset at 1M and 10M synthetic decisions (80 shared candidates), numpy and Spark
# engines: wall time and peak RSS of each command's process tree (docs/spark.md; long).
bench-spark: proto $(VENV)/.spark-installed
	$(PY) -m bench.spark_scale

# The one image of the four services (needs a Docker engine; see Dockerfile, k8s/).
IMAGE ?= keyart:0.1.0
image:
	docker build -t $(IMAGE) .

# The NATS JetStream log sink beside the file sink (nats-server installed when missing, as root).
bench-sink: proto model
	$(PY) -m bench.sink

# keyart collect's speed and peak RSS on reference pages from a real gateway and nats-server.
bench-collect: proto model
	$(PY) -m bench.collect

# The learning loop against the real suite: 5 rounds of 20,000 impressions (see README).
bench-learning: proto
	$(VENV)/bin/keyart simulate --rounds 5 --impressions 20000

# An online experiment against the real suite: default vs a learned model, then 20 A/A runs
# (docs/experiments.md); last line: summary: lift=… true_lift=… lift_ci_contains_truth=… aa_coverage=…
bench-experiment: proto
	$(VENV)/bin/keyart simulate --experiment

# The A/A lift interval's coverage over 2,000 of the simulator's A/A experiments, made again
# without the suite (docs/experiments.md; ~4 minutes); last line: summary: reads=… delta_coverage=…
bench-aa: proto
	$(PY) -m bench.aa_coverage

clean:
	rm -rf gen var .pytest_cache node_modules
