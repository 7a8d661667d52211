# canvasd developer commands. `make test` works on a fresh machine: it builds .venv with Python >= 3.12.
VENV := .venv
PY := $(VENV)/bin/python

PLUGIN := plugins/obsidian-canvasd

.PHONY: test lint bench demo clean plugin plugin-test

$(PY): pyproject.toml
	@python=$$(scripts/python312) && "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(PY)

test: $(PY)
	$(VENV)/bin/ruff check canvasd tests bench
	$(VENV)/bin/mypy canvasd
	$(PY) -m pytest
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory plugin-test; \
	 else echo "npm not found: the Obsidian plugin's checks were skipped (install Node.js 20+)"; fi

# The Obsidian plugin: main.js from a fresh clone (dependencies from the lockfile).
plugin: $(PLUGIN)/node_modules/.installed
	cd $(PLUGIN) && npm run build

plugin-test: $(PY) $(PLUGIN)/node_modules/.installed
	scripts/plugin-check

$(PLUGIN)/node_modules/.installed: $(PLUGIN)/package-lock.json
	cd $(PLUGIN) && npm ci --no-audit --no-fund
	@touch $@

lint: $(PY)
	$(VENV)/bin/ruff check canvasd tests bench
	$(VENV)/bin/mypy canvasd

bench: $(PY)
	$(PY) bench/canvas_io.py
	$(PY) bench/api.py
	$(PY) bench/index.py
	$(PY) bench/memory.py

# The daemon on a copy of demo/vault (the repository's copy stays clean), default socket, offline.
demo: $(PY)
	@[ -d .demo/vault ] || { mkdir -p .demo && cp -R demo/vault .demo/vault; }
	$(VENV)/bin/canvasd serve --vault demo=.demo/vault

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .demo $(PLUGIN)/node_modules $(PLUGIN)/main.js
