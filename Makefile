# Two commands set up everything on a fresh machine with Python 3.11+: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export DAGSTER_DISABLE_TELEMETRY := 1
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1

# Apache Superset, the BI client the tests drive, lives in a virtual environment of its own (its pins clash with
# ours), installed again only when its requirements or config change (the stamp's name is their hash).
SUPERSET_VENV := .venv-superset
SUPERSET_HASH := $(shell cat bi/superset-requirements.txt bi/superset_config.py | sha256sum | cut -c1-16)
SUPERSET_STAMP := $(SUPERSET_VENV)/.installed-$(SUPERSET_HASH)

.PHONY: spark test-spark test-spark-equality java run test lint dev parse clean sample chromium superset test-superset docs

# pip -qq prints errors only: not the notices of a pip configuration's unreachable index folders, nor setuptools'
# "Editable installation" note, so a fresh clone's `make run` shows no warning that asks nothing of the user
$(STAMP): pyproject.toml
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --quiet --upgrade pip
	$(BIN)/pip install --quiet --quiet -e '.[dev]'
	@touch $(STAMP)

# dbt's manifest, parsed again only when a file of the dbt project changed (a parse takes 10-25 s).
MANIFEST := dbt_project/target/manifest.json
DBT_FILES := $(shell find dbt_project \( -path dbt_project/target -o -path dbt_project/logs \) -prune -o -type f \
                \( -name '*.sql' -o -name '*.yml' -o -name '*.csv' \) -print)
# Parsed in full with the profile of the default warehouse (warehouse/journey.duckdb), by the same code the definitions
# use for a stale manifest (orchestration/defs/dbt/project.py, parse_in_full): dbt keeps its parse state only for the
# profile it was made with (journey-dbt compares the build file's name, not its folder: orchestration/lib/dbt_cli.py),
# so the first run of a fresh clone, and of any warehouse named journey.duckdb, starts from it instead of parsing again.
PARSE := $(BIN)/python -m orchestration.defs.dbt.project
$(MANIFEST): $(STAMP) $(DBT_FILES)
	$(PARSE)
	@touch $@

parse: $(STAMP)  ## dbt's manifest, parsed again now (the definitions parse it themselves when it is missing or stale)
	$(PARSE)

run: $(MANIFEST)  ## the whole pipeline on the bundled sample, then a summary
	$(BIN)/journey run

test: $(MANIFEST) chromium  ## every test but Superset's (the Spark equality test last, in .venv-spark), on two workers, a file each at a time (tests/conftest.py)
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder -m "not superset and not spark"
	@$(MAKE) --no-print-directory test-spark-equality

# The Spark packages (extra `spark`: dbt-spark, pyspark; Java 17 must be on the machine) live in a virtual
# environment of their own. With pyspark installed, Great Expectations imports pyspark's Spark Connect module, which
# exits any process whose __main__ has no file (it takes it for a doctest run): `make test`'s pytest-xdist workers
# would exit at collection. So pyspark must not reach .venv; test_spark.py runs without workers.
SPARK_VENV := .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.installed
$(SPARK_STAMP): pyproject.toml
	@test -d $(SPARK_VENV) || $(PYTHON) -m venv $(SPARK_VENV)
	$(SPARK_VENV)/bin/pip install --quiet --quiet --upgrade pip
	$(SPARK_VENV)/bin/pip install --quiet --quiet -e '.[dev,spark]'
	@touch $@

spark: $(SPARK_STAMP)  ## the Spark engine's environment, .venv-spark (`journey run --engine spark`; docs/spark.md)

test-spark: $(MANIFEST) $(SPARK_STAMP)  ## the raw gates on Spark, then all of tests/test_spark.py: the equality test, rollback, a failed gate, an erasure and a full refresh on Spark (docs/spark.md; about 40 min)
	$(SPARK_VENV)/bin/pytest -q -m spark tests/test_spark_raw_gates.py tests/test_spark.py

# The part of the Spark tests that `make test` runs (about 15 min; `make test-spark` adds the marker
# spark_lifecycle's rollback, failed gate, erasure and full refresh, about 20 min more): the raw gates counted by Spark
# SQL judge as DuckDB's (tests/test_spark_raw_gates.py), and `journey run --engine spark` over two nights of the sample
# equals DuckDB (tests/test_spark.py). pyspark 4 needs Java 17 or newer: `make java` installs Debian's JDK with apt when there
# is none and this runs as root; elsewhere the test is left out with the reason (a machine with only Python).
test-spark-equality: $(MANIFEST) java
	@if $(JAVA_17); then \
	  $(MAKE) --no-print-directory $(SPARK_STAMP) && \
	  $(SPARK_VENV)/bin/pytest -q -m "spark and not spark_lifecycle" tests/test_spark_raw_gates.py tests/test_spark.py; \
	else \
	  echo "no Java 17 or newer on PATH: the Spark tests (tests/test_spark_raw_gates.py, tests/test_spark.py) did not run; install a JDK 17" \
	       "(Debian: apt-get install openjdk-17-jre-headless), then make test-spark"; \
	fi

# true when `java -version` says 17 or newer ("openjdk version "17.0.15" 2025-04-15")
JAVA_17 := [ "$$(java -version 2>&1 | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -1)" -ge 17 ] 2>/dev/null

# $(call apt_install,PACKAGE,WHAT FOR,WHO SAYS SO WITHOUT IT): Debian's PACKAGE installed with apt, as root; else why not
apt_install = if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's $(1) for $(2)"; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(1); } \
	      || echo "could not install $(1) with apt: $(3) will say so"; \
	  else \
	    echo "no $(1) and no root to install it: $(3) will say so"; \
	  fi

java:  ## Java for the Spark test: Debian's headless JDK 17, installed with apt when there is no Java 17+ and this runs as root
	@$(JAVA_17) || { $(call apt_install,openjdk-17-jre-headless,the Spark equality test,the Spark equality test); }

chromium:  ## the headless browser of the report's test: Debian's chromium, installed with apt when missing
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  $(call apt_install,chromium,the report's browser test,tests/test_report.py's browser tests); }

$(SUPERSET_STAMP):
	rm -rf $(SUPERSET_VENV)
	$(PYTHON) -m venv $(SUPERSET_VENV)
	$(SUPERSET_VENV)/bin/pip install --quiet --upgrade pip
	$(SUPERSET_VENV)/bin/pip install --quiet -r bi/superset-requirements.txt
	mkdir -p $(SUPERSET_VENV)/home  # the metadata database every test instance starts from a copy of
	cd $(SUPERSET_VENV)/home && export SUPERSET_HOME=$(CURDIR)/$(SUPERSET_VENV)/home \
	  SUPERSET_CONFIG_PATH=$(CURDIR)/bi/superset_config.py && ../bin/superset db upgrade >setup.log 2>&1 \
	  && ../bin/superset fab create-admin --username admin --firstname Journey --lastname Test \
	     --email admin@localhost --password admin >>setup.log 2>&1 \
	  && ../bin/superset init >>setup.log 2>&1 || { tail -30 setup.log; exit 1; }
	@touch $@

superset: $(SUPERSET_STAMP)  ## Apache Superset 6.1 in .venv-superset, with its metadata database set up

test-superset: $(MANIFEST) superset  ## Superset registers the warehouse and queries it in SQL Lab while a run publishes
	$(BIN)/pytest -q -m superset tests/test_superset.py

lint: $(STAMP)
	$(BIN)/ruff check orchestration expectations generator tests benchmarks

dev: $(MANIFEST)  ## the Dagster UI on http://127.0.0.1:3000
	mkdir -p .dagster_home && cp -n orchestration/dagster.yaml .dagster_home/dagster.yaml || true
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev -m orchestration.definitions

WAREHOUSE ?= warehouse/journey.duckdb
DOCS := $(dir $(WAREHOUSE))dbt_docs
docs: $(MANIFEST)  ## dbt's documentation site as one offline file, $(DOCS)/static_index.html (column types from WAREHOUSE)
	rm -rf $(DOCS) && mkdir -p $(DOCS)
	@# dbt reads the catalog from a copy: the published warehouse is never opened for writing
	if [ -f $(WAREHOUSE) ]; then cp $(WAREHOUSE) $(DOCS)/catalog.duckdb; catalog=; \
	else echo "no $(WAREHOUSE) yet (make run builds it): docs without column types"; catalog=--empty-catalog; fi; \
	cd dbt_project && JOURNEY_BUILD_WAREHOUSE=$(abspath $(DOCS))/catalog.duckdb $(abspath $(BIN))/dbt docs generate --static \
	  $$catalog --quiet --profiles-dir . --project-dir . --target-path $(abspath $(DOCS))
	rm -f $(DOCS)/catalog.duckdb $(DOCS)/catalog.duckdb.wal
	$(BIN)/python bi/docs_coverage.py $(DOCS)
	@echo "dbt docs: $(abspath $(DOCS))/static_index.html (one file, opens offline)"

sample: $(STAMP)  ## regenerate the bundled sample in seeds/
	$(BIN)/journey generate --out seeds --people 2000 --days 60 --seed 7

clean:
	rm -rf warehouse dbt_project/target dbt_project/logs .dagster_home
