# Two commands a newcomer needs: `make demo` (run the job locally) and `make test`.
# Both install the Debian packages they need when missing (scripts/system-packages.sh; as root,
# otherwise it names them) and create ./venv (the virtualenv Pulumi.yaml uses too) from the
# pinned requirements. The tests start their own throw-away MariaDB unless TEST_DB_* name one.
PYTHON ?= python3
VENV   ?= venv
BIN    := $(VENV)/bin
ROWS   ?= 100000

.PHONY: demo test lint unit snapshots config-docs schema clean packages-demo packages-test

packages-demo: ## the Debian packages of the demo (and of ./venv)
	@PYTHON=$(PYTHON) scripts/system-packages.sh demo

packages-test: ## the same, plus Node.js and npm
	@PYTHON=$(PYTHON) scripts/system-packages.sh test

$(BIN)/.installed: requirements.txt requirements-dev.txt etl/requirements.txt | packages-demo
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# Node tools the tests use (asl-validator), pinned by package-lock.json.
node_modules/.installed: package.json package-lock.json | packages-test
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# JOB=<job folder> runs yours instead of the bundled one; INPUTS=<folder of <table>/*.csv>;
# SCHEDULED_TIME=<slot, e.g. 2026-12-06T02:30:00Z> the run's slot; STACK_JOB=<a dev job> runs
# that job of Pulumi.dev.yaml (its own folder, at its latest slot unless SCHEDULED_TIME says).
demo: packages-demo $(BIN)/.installed ## run the dev stack's task definition locally (tools.task) on sample data
	$(BIN)/python scripts/demo.py --rows $(ROWS)$(if $(JOB), --job '$(JOB)')$(if $(INPUTS), --inputs '$(INPUTS)')$(if $(SCHEDULED_TIME), --scheduled-time '$(SCHEDULED_TIME)')$(if $(STACK_JOB), --stack-job '$(STACK_JOB)')

lint: $(BIN)/.installed ## ruff, mypy, hadolint, actionlint, zizmor
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy components etl tools bench scripts provider
	cd policy && ../$(BIN)/mypy --config-file ../pyproject.toml .
	$(BIN)/hadolint Dockerfile examples/own-job-image/Dockerfile
	$(BIN)/actionlint
	$(BIN)/zizmor --offline --min-severity medium .github

unit: packages-test $(BIN)/.installed node_modules/.installed ## the test suite only
	$(BIN)/python -m pytest

test: lint unit ## everything CI runs

snapshots: $(BIN)/.installed ## refresh tests/snapshots/*.json after an intended change
	$(BIN)/python -m tools.render --write-snapshots

config-docs: $(BIN)/.installed ## rewrite docs/configuration.md's tables from components/settings.py, etl/contract.py
	$(BIN)/python -m tools.config_docs

schema: $(BIN)/.installed ## rewrite provider/schema.json, the component provider's schema, from the components' args
	$(BIN)/python -m tools.schema --write

clean:
	rm -rf $(VENV) node_modules .demo .pytest_cache .mypy_cache .ruff_cache
