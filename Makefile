# Two commands matter: `make demo` and `make test`. Both bootstrap .venv idempotently: the
# install runs again only when pyproject.toml or constraints.txt changed (the stamp file).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.ltc-installed
UV_VERSION := $(shell sed -n 's/^uv==//p' constraints.txt)
export LTC_HOME ?= $(CURDIR)/.ltc
comma := ,

.PHONY: demo test test-extended test-reliability test-spark setup-spark test-all dev dbt-parse lint clean setup bench-salesforce bench-erp bench-camt \
	bench-orchestration bench-event-log bench-scale bench-scale-postgres bench-markdown

setup: $(STAMP)

# One venv: $(1) its folder, $(2) the project's extras; its stamp is $(1)/.ltc-installed.
# --compile-bytecode: CI machines export PYTHONDONTWRITEBYTECODE, so without it every process
# (each dbt, Dagster and worker subprocess of the tests) compiled its imports from source anew
define install_venv
	@test -x $(1)/bin/python || $(PYTHON) -m venv $(1)
	@$(1)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(1)/bin/uv pip install --quiet --compile-bytecode --python $(1)/bin/python -c constraints.txt -e ".[$(2)]"
	@touch $(1)/.ltc-installed
endef

$(STAMP): pyproject.toml constraints.txt
	$(call install_venv,$(VENV),test)

dbt-parse: $(STAMP)
	@$(BIN)/python -c "from orchestration.prepare import prepare_dbt_manifest; prepare_dbt_manifest()"

demo: $(STAMP)
	$(BIN)/ltc demo

# -n 2 --dist loadfile: the two cores each take whole test files (a file's module fixtures, often a
# dbt build, are made once); most of a test's time is one dbt, Dagster or Chromium child process, so
# two workers nearly halve the wall time (LTC_TEST_WORKERS=0 runs in one process, e.g. to debug)
LTC_TEST_WORKERS ?= 2
XDIST = $(if $(filter 0,$(LTC_TEST_WORKERS)),,-n $(LTC_TEST_WORKERS) --dist loadfile)

test: $(STAMP) dbt-parse
	$(BIN)/python -m pytest -q -m "not extended and not spark and not reliability" $(XDIST) --durations=10

# The extended suite: the sandbox company landed through the connectors and built end to end per
# model family, and the external-dataset validations (Olist, IBM AR). Minutes of dbt each; CI runs
# it after `make test` (.ci/run).
test-extended: $(STAMP) dbt-parse
	$(BIN)/python -m pytest -q -m extended --durations=10

# The fault-injection and security suite (tests/reliability): crashes, API faults, the bad-input
# corpus, late data, concurrency, secrets and exposure. CI runs it after the extended suite.
test-reliability: $(STAMP) dbt-parse
	$(BIN)/python -m pytest -q -m reliability tests/reliability $(XDIST) --durations=15

# dbt on Spark in local mode against the DuckDB marts (tests/spark; needs Java 17): about 2 min.
# The `spark` extra (pyspark: 478 MB) lives in its own venv, .venv-spark, never in .venv: pyspark
# exits the process on import when `__main__` has neither __spec__ nor __file__ (it takes that for
# its own doctests), which is how pytest-xdist's workers run, and Great Expectations imports pyspark
# whenever it is installed. In .venv it stopped `make test` at collection.
SPARK_VENV := .venv-spark
SPARK_STAMP := $(SPARK_VENV)/.ltc-installed

setup-spark: $(SPARK_STAMP)

$(SPARK_STAMP): pyproject.toml constraints.txt
	$(call install_venv,$(SPARK_VENV),test$(comma)spark)

test-spark: $(SPARK_STAMP)
	$(SPARK_VENV)/bin/python -m pytest -q -m spark

dev: $(STAMP)
	$(BIN)/ltc dev

# Benchmarks are measurements, not tests: medians land in benchmarks/results/*.json.
bench-salesforce: $(STAMP)
	$(BIN)/python -m benchmarks.salesforce --rows 1000000 --repeats 3

# needs the Postgres server (LTC_BENCH_PG_ADMIN, default postgresql://postgres@127.0.0.1:5432/postgres)
bench-erp: $(STAMP)
	$(BIN)/python -m benchmarks.erp --rows 1000000 --repeat 3

bench-camt: $(STAMP)
	$(BIN)/python -m benchmarks.camt --entries 100000 --repeat 3

# the full in-process run against ingest alone and dbt alone (issue 6's orchestration overhead)
bench-orchestration: $(STAMP)
	$(BIN)/python -m benchmarks.orchestration --scale 2000 --repeat 3

bench-event-log: $(STAMP)
	$(BIN)/python -m benchmarks.event_log --events 300 --repeat 5

# issue 8: the full refresh phase by phase at each scale (benchmarks/scale.py), then BENCHMARKS.md
bench-scale: $(STAMP)
	$(BIN)/ltc bench scale --scales 10000 100000 --repeat 3

# the same at 100k leads with the warehouse on Postgres (dlt `postgres`, dbt target `pg`), in a fresh
# database per repeat, dropped after; needs the server (LTC_BENCH_PG_ADMIN, as bench-erp)
bench-scale-postgres: $(STAMP)
	$(BIN)/ltc bench scale --scales 100000 --repeat 1 --warehouse postgres

bench-floor: $(STAMP) dbt-parse
	$(BIN)/python -m benchmarks.floor --scale 10000 --repeat 3

bench-markdown: $(STAMP)
	$(BIN)/python -m benchmarks.markdown

clean:
	rm -rf .ltc dbt_project/target dbt_project/logs .pytest_cache
