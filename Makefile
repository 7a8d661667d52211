# canvasd developer commands. `make test` works on a fresh machine: it builds .venv with Python >= 3.12.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: test lint bench clean

$(PY): pyproject.toml
	@python=$$(scripts/python312) && "$$python" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(PY)

test: $(PY)
	$(VENV)/bin/ruff check canvasd tests bench
	$(VENV)/bin/mypy canvasd
	$(PY) -m pytest

lint: $(PY)
	$(VENV)/bin/ruff check canvasd tests bench
	$(VENV)/bin/mypy canvasd

bench: $(PY)
	$(PY) bench/canvas_io.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
