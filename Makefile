# Two commands set up everything on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_DISABLE_TELEMETRY := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

.PHONY: run test lint dev parse clean sample

$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $(STAMP)

parse: $(STAMP)  ## dbt's manifest, parsed again (the definitions parse it themselves only when it is missing)
	cd dbt_project && ../$(BIN)/dbt parse --quiet --profiles-dir . --project-dir .

run: parse  ## the whole pipeline on the bundled sample, then a summary
	$(BIN)/journey run

test: parse  ## every test, on two workers, a file each at a time (tests/conftest.py: shared warehouses, order)
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder

lint: $(STAMP)
	$(BIN)/ruff check orchestration expectations generator tests benchmarks

dev: parse  ## the Dagster UI on http://127.0.0.1:3000
	mkdir -p .dagster_home && cp -n orchestration/dagster.yaml .dagster_home/dagster.yaml || true
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev -m orchestration.definitions

sample: $(STAMP)  ## regenerate the bundled sample in seeds/
	$(BIN)/journey generate --out seeds --people 2000 --days 60 --seed 7

clean:
	rm -rf warehouse dbt_project/target dbt_project/logs .dagster_home
