# Two commands do all the set-up on a fresh machine:
#   make run   - create .venv (runtime only), migrate, serve on http://127.0.0.1:8000 (SQLite)
#   make test  - create .venv with the dev tools, lint (ruff, mypy, import layers), run the whole
#                suite (PostgreSQL too if TEST_DATABASE_URL is set), including the fresh-install
#                test (marker `install`)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
RUN_STAMP := $(VENV)/.installed-run
HOST   ?= 127.0.0.1
PORT   ?= 8000
# The browser tests drive Debian's Chromium (a browser download does not work everywhere).
CHROMIUM := /usr/bin/chromium
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint migrate venv browser bench bench-quick bench-sweep bench-history clean

# `make run` installs what running needs; the test and lint tools come with `make test`.
$(RUN_STAMP): pyproject.toml setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e .
	@touch $@

$(STAMP): pyproject.toml setup.py constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@ $(RUN_STAMP)

venv: $(STAMP)

run: $(RUN_STAMP)
	$(BIN)/parley serve --host $(HOST) --port $(PORT)

migrate: $(RUN_STAMP)
	$(BIN)/parley migrate

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

browser:
	@test -x $(CHROMIUM) || ! command -v apt-get >/dev/null || \
		{ $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium; }

test: $(STAMP) browser
	$(BIN)/ruff check .
	$(BIN)/mypy app
	$(BIN)/lint-imports
	$(BIN)/python -m pytest

# Parley against the naive broadcaster, interleaved rounds on PostgreSQL (docs/performance.md).
bench: $(STAMP)
	$(BIN)/python -m bench.run --rounds 5
	$(BIN)/python -m bench.plot

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick --rounds 1

# Issue 17's open loop at 200-1000 msg/s into 100 subscribers: the highest rate each server
# carries at send->deliver p99 <= 25 ms (median of 5 rounds), and its plot (open-sweep.png).
bench-sweep: $(STAMP)
	$(BIN)/python -m bench.run --open-rates 200 400 600 800 1000 --rounds 5
	$(BIN)/python -m bench.plot --plots sweep

# Read latencies over 10 M stored messages; the loaded database is kept for the next run.
bench-history: $(STAMP)
	$(BIN)/python -m bench.history --keep-database --explain

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
