# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 5000
WORKERS ?= 2

.PHONY: run dev test install install-dev translations messages migrate chromium bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed translations
install-dev: $(VENV)/.installed-dev translations

## Compile the fr and en message catalogs (the .mo files are not committed).
translations: | $(BIN)/python
	$(BIN)/pybabel -q compile --use-fuzzy -d translations

## Extract the strings to translate into messages.pot and merge them into the fr and en catalogs.
messages: | $(BIN)/python
	$(BIN)/pybabel -q extract -F babel.cfg -k _l -k lazy_gettext -k lazy_ngettext:1,2 \
	  --project Facturier -o translations/messages.pot .
	$(BIN)/pybabel -q update -i translations/messages.pot -d translations

migrate: install
	$(BIN)/flask --app app db upgrade

## Serve the app with gunicorn on http://$(HOST):$(PORT) (SQLite in instance/).
run: migrate
	$(BIN)/gunicorn --workers $(WORKERS) --bind $(HOST):$(PORT) --access-logfile - 'app:create_app()'

## Flask's development server with auto-reload.
dev: migrate
	$(BIN)/flask --app app run --debug --host $(HOST) --port $(PORT)

## Debian chromium for the browser tests; installed with apt-get when missing and running as root.
chromium:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "chromium is missing: install Debian's chromium package (sudo apt-get install chromium)"; exit 1; \
	  fi; \
	fi

## The whole suite, browser tests included.
test: install-dev chromium
	$(BIN)/python -m pytest

## Benchmarks (ratios to baselines measured in the same run): pages and PDF, then a batch of 100 emails.
bench: install-dev
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/batch.py

clean:
	rm -rf $(VENV) .pytest_cache
