# The two commands of the README:  `make run`  and  `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system run build serve test lint bench

install: $(VENV)/.kb-installed

# torch first, pinned: its CPU build lies on this disk; a bare requirement would pull a CUDA build.
$(VENV)/.kb-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	$(BIN)/kb model  # the bundled model, converted and exported to ONNX once into the kb cache (torch only here)
	touch $@

# What the tests need from Debian: Chromium, ChromeDriver and CJK fonts for the browser tests and screenshots
# (test tools that download their own browser fail here), and PostgreSQL's server for the replica tests
# (the tests start their own server in a temporary folder; nothing is configured system-wide).
system:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null && fc-list 2>/dev/null | grep -q "Noto Sans CJK" \
	  && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver fonts-noto-cjk postgresql; }

build: install
	$(BIN)/kb build

serve: install
	$(BIN)/kb serve

run: build serve

# axe-core for the accessibility tests, pinned in tests/browser/package-lock.json (npm registry)
tests/browser/node_modules/axe-core/axe.min.js: tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

test: install system tests/browser/node_modules/axe-core/axe.min.js
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check kb tests scripts
	$(BIN)/mypy kb

bench: install
	$(BIN)/python scripts/bench.py
