# Shipshape developer entry points. Every target creates .venv when missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: all install test lint fmt bench demo clean checkov lock system-tools

all: test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall when the project's metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,otel]'
	touch $(STAMP)

install: $(STAMP)

# checkov (tests/k8s) in its own virtualenv from exact pins, without the
# resolver: its dependency tree clashes with the project's (docs/manifests.md).
CHECKOV := $(VENV)/tools/checkov/bin/checkov
$(CHECKOV): tests/k8s/checkov-requirements.txt | $(BIN)/python
	$(PYTHON) -m venv $(VENV)/tools/checkov
	$(VENV)/tools/checkov/bin/python -m pip install --quiet --no-deps -r tests/k8s/checkov-requirements.txt
	touch $(CHECKOV)

checkov: $(CHECKOV)

# The images' hash-locked dependencies (requirements/image*.txt, read by the
# Dockerfiles), resolved for the images' Python on every platform by uv, kept
# in its own virtualenv. Run after changing pyproject.toml's dependencies;
# pins already in the files are kept unless UV_ARGS=--upgrade.
UV := $(VENV)/tools/uv/bin/uv
UV_COMPILE = $(UV) pip compile pyproject.toml requirements/build.in --universal \
	--python-version 3.11 --generate-hashes --custom-compile-command "make lock" --quiet $(UV_ARGS)
$(UV): | $(BIN)/python
	$(PYTHON) -m venv $(VENV)/tools/uv
	$(VENV)/tools/uv/bin/python -m pip install --quiet "uv==0.13.9"

lock: $(UV)
	$(UV_COMPILE) -o requirements/image.txt
	$(UV_COMPILE) --extra otel -o requirements/image-otel.txt

# The distribution's tools the tests run (promtool, jq, node, chromium,
# PostgreSQL): a few `command -v` checks; apt-get only when one is missing,
# as root, else one line with the command to run (scripts/system-tools.sh).
system-tools:
	@scripts/system-tools.sh test

# The suite runs on every usable core, at most four (pytest-xdist). Most of its
# time is spent waiting on real processes, leases and debounce windows, so two
# workers halve it on two cores; `make test TEST_WORKERS=0` runs it in one
# process. Work-stealing keeps one long test from leaving a worker idle.
TEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 1); [ "$$n" -gt 4 ] && n=4; echo $$n)

# Lint, the layer contract, then every test. The README's test command.
test: system-tools $(STAMP) $(CHECKOV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

fmt: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Benchmarks print their figures; they never fail on a slow machine.
bench: $(STAMP)
	@# The web app's benchmark drives its servers with wrk (Debian's package).
	@scripts/system-tools.sh bench
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest tests/bench -s -o python_files="bench_*.py" $(PYTEST_ARGS)

# The whole system on 127.0.0.1, narrated, in under a minute (hack/demo.py).
# DEMO_ARGS: e.g. --out DIR for the DR-drill evidence, --keep DIR for the logs.
demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m hack.demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info

# --- Release gates (docs/runbooks/operations.md, "Releases") ------------------
.PHONY: validate check-ci-core

# The runbook's pre-deploy validators, in its order (docs/manifests.md). The
# production evidence gate is not here: it needs a real cluster's evidence and
# runs in the release workflow (hack/validate_production_evidence.py).
EGRESS_PATCHES := examples/controller-apiserver-cidr-patch.yaml \
	examples/controller-egress/eks.patch.yaml \
	examples/controller-egress/gke.patch.yaml \
	examples/controller-egress/aks.patch.yaml
VALIDATE_ENV := PATH="$(CURDIR)/$(BIN):$$PATH"

validate: $(STAMP)
	$(VALIDATE_ENV) $(BIN)/python hack/validate_manifests.py --overlay test --overlay prod \
		$(foreach patch,$(EGRESS_PATCHES),--controller-egress-patch $(patch))
	$(VALIDATE_ENV) $(BIN)/python hack/check_immutable_images.py
	$(VALIDATE_ENV) $(BIN)/python hack/check_doc_links.py
	$(VALIDATE_ENV) $(BIN)/python hack/validate_release_metadata.py
	$(VALIDATE_ENV) $(BIN)/python hack/validate_deployment_order.py
	$(VALIDATE_ENV) $(BIN)/python hack/validate_trivyignore.py
	$(VALIDATE_ENV) kubectl kustomize k8s/monitoring >/dev/null

# What CI and the runbook's upgrade procedures run before anything ships:
# lint, every test, every pre-deploy validator.
check-ci-core: lint test validate
