# severa-sync developer entry points. Everything a fresh machine needs is installed from here:
# `make test` and `make demo` build their own virtual environment (.venv) from uv.lock.
PYTHON ?= python3.11
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
VENV   := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# SAM CLI would try to send usage telemetry; this machine (and CI) has no network for it.
export SAM_CLI_TELEMETRY := 0

.PHONY: install test lint typecheck unit faults demo bench template sam-validate sam-build clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.8

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --extra tools --python $(PYTHON)
	touch $@

install: $(VENV)/.installed

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check shared tools functions

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest -n 2 -q

# The README's test command: lint, type-check, the SAM template checks (validate --lint, cfn-lint,
# build) in their own tool environment, and the whole pytest suite (fault suite included).
test: lint typecheck sam-validate sam-build unit

faults: install
	$(VENV)/bin/pytest -q -m faults

demo: install
	$(VENV)/bin/severa-sync demo

bench: install
	$(VENV)/bin/python -m severa_sync_tools.bench

# The per-data-type regions of template.yaml, written from the registry (tests/infra checks them).
template: install
	$(VENV)/bin/python -m severa_sync_tools.templategen

# SAM CLI pins its own boto3/click/cfn-lint, so it lives in a separate tool environment.
SAM := $(TOOLS)/sam/bin/sam
$(SAM): $(UV)
	$(PYTHON) -m venv $(TOOLS)/sam
	$(UV) pip install --quiet --python $(TOOLS)/sam/bin/python aws-sam-cli==1.*

sam-validate: $(SAM) install
	$(SAM) validate --lint --region eu-west-1 --template template.yaml
	$(VENV)/bin/cfn-lint template.yaml

sam-build: $(SAM)
	$(SAM) build --template template.yaml --build-dir .aws-sam/build

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache
