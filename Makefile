# The two commands of the README: `make run` and `make test`. Both set themselves up.
.PHONY: run test lint setup-run setup-test

VENV := .venv
PYTEST_ARGS ?=

run: setup-run
	$(VENV)/bin/flask --app wsgi up

test: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest $(PYTEST_ARGS)

lint: setup-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

setup-run:
	@tools/setup.sh run

setup-test:
	@tools/setup.sh test
