# The one place the build commands live: the README, CI and the GitHub workflows call these targets.
# `make book` and `make test` bootstrap a virtual environment in .venv from requirements.txt on first
# use (and again whenever requirements.txt or code/pyproject.toml changes).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Sphinx warnings fail the build (-W); --keep-going reports all of them before failing.
JB_FLAGS ?= --warningiserror --keep-going

.PHONY: help venv node book book-all chapter serve test test-quick bench clean clean-all

help:
	@echo "make book      build the site into _build/html, executing changed chapters"
	@echo "make chapter CHAPTER=book/<name>.md   build and preview one chapter in seconds"
	@echo "make serve     preview the built site on http://$(HOST):$(PORT)"
	@echo "make test      run every test: package, chapters, built site in a browser"
	@echo "make test-quick  the package and source tests only (no book build, no browser): about a minute"
	@echo "make bench     measure build, rebuild and test times"
	@echo "make clean     remove the built site and the execution cache"

$(STAMP): requirements.txt code/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --requirement requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps --editable code/
	@touch $@

venv: $(STAMP)

node: $(NODE_MODULES)

# The npm packages of package.json (locked in package-lock.json): mathjax-full typesets the book's
# mathematics when it is built (book/_ext/math_prerender.py), so the book needs Node.js and npm;
# axe-core for the accessibility tests; lighthouse for scripts/lighthouse.py.
NODE_MODULES := node_modules/.installed
$(NODE_MODULES): package.json package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: the book cannot be built without Node.js \
	(18 or later, with npm; Debian: apt-get install nodejs npm), which typesets its mathematics" >&2; exit 1; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

book: $(STAMP) $(NODE_MODULES)
	$(BIN)/jupyter-book build . $(JB_FLAGS)
	@echo ""
	@echo "The site is in $(CURDIR)/_build/html (start at index.html)."
	@echo "Preview it with: make serve   (then open http://$(HOST):$(PORT))"

# Re-read every page (not only changed ones); the execution cache still decides what re-runs.
book-all: $(STAMP) $(NODE_MODULES)
	$(BIN)/jupyter-book build . --all $(JB_FLAGS)

# One chapter, quickly: only it is executed (its outputs also serve the next `make book`).
chapter: $(STAMP) $(NODE_MODULES)
	@test -n "$(CHAPTER)" || { echo "Name the chapter: make chapter CHAPTER=book/<name>.md" >&2; exit 2; }
	$(BIN)/python scripts/build_chapter.py $(CHAPTER) --serve --port $(PORT)

serve:
	@test -f _build/html/index.html || { echo "No site yet: run 'make book' first." >&2; exit 2; }
	$(BIN)/python -m http.server --bind $(HOST) --directory _build/html $(PORT)

test: $(STAMP) $(NODE_MODULES)
	$(BIN)/python -m pytest

# What a contributor runs while editing code/ or tests: everything but the tests that build the
# book or drive a browser (markers `book` and `browser`, pytest.ini).
test-quick: $(STAMP)
	$(BIN)/python -m pytest -m "not book and not browser"

bench: $(STAMP)
	$(BIN)/python scripts/bench.py

clean:
	rm -rf _build

clean-all: clean
	rm -rf $(VENV) code/*.egg-info .pytest_cache node_modules
