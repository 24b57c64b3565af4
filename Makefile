# The two commands of the README: `make run` and `make test`. Both set themselves up.
.PHONY: run test check faults bench lint setup-run setup-test

VENV := .venv
PYTEST_ARGS ?=

run: setup-run
	$(VENV)/bin/flask --app wsgi up

test: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python tools/import_graph.py
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The developer's quick check: the same checks and every test but the whole-system ones
# (marked slow: they start processes or push hundreds of events through them).
check: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python tools/import_graph.py
	$(VENV)/bin/python -m pytest -m "not slow" $(PYTEST_ARGS)

# The fault suite at full size (issue 6): 2,000 events under faults; about 10 minutes here.
faults: setup-test
	FAULT_EVENTS=2000 $(VENV)/bin/python -m pytest -q tests/system/faults $(PYTEST_ARGS)

# The benchmark of issue 7 (bench/production.py): a table on the terminal and JSON in
# bench/results/. About 35 minutes; needs PostgreSQL and Redis (BENCH_DATABASE_URL,
# BENCH_REDIS_URL) and wrk. Never part of `make test`.
BENCH_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/bench
BENCH_REDIS_URL ?= redis://127.0.0.1:6379/13
bench: setup-test
	$(VENV)/bin/python -m bench.production --database-url $(BENCH_DATABASE_URL) --redis-url $(BENCH_REDIS_URL) $(BENCH_ARGS)

lint: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/python tools/import_graph.py
	$(VENV)/bin/vulture

setup-run:
	@tools/setup.sh run

setup-test:
	@tools/setup.sh test
