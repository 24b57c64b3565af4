# The two commands of the README: `make run` and `make test`. Both set themselves up.
.PHONY: run test faults lint setup-run setup-test

VENV := .venv
PYTEST_ARGS ?=

run: setup-run
	$(VENV)/bin/flask --app wsgi up

test: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

# The fault suite at full size (issue 6): 2,000 events under faults; about 10 minutes here.
faults: setup-test
	FAULT_EVENTS=2000 $(VENV)/bin/python -m pytest -q tests/faults $(PYTEST_ARGS)

lint: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

setup-run:
	@tools/setup.sh run

setup-test:
	@tools/setup.sh test
