# Two commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test test-fast lint typecheck-link package install clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/walkshed demo --out out/demo

# mypy names a module after its folder: check coverage/ under its import name through a link.
typecheck-link:
	mkdir -p build/typecheck
	ln -sfn ../../coverage build/typecheck/walkshed

lint: install typecheck-link
	$(BIN)/ruff check coverage tests benchmarks
	$(BIN)/mypy

# The wheel and sdist build without warnings and pass twine's metadata check.
package: install
	rm -rf build/dist
	env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m build --sdist --wheel --outdir build/dist . > build/package.log 2>&1 \
	    || { cat build/package.log; exit 1; }
	! grep -i "warning" build/package.log
	$(BIN)/twine check --strict build/dist/*

# The whole suite (browser tests included) under pytest-cov; prints the line coverage of walkshed.
test: install lint package
	$(BIN)/pytest -n 2 --cov=walkshed --cov-report=term:skip-covered

# The edit loop: no slow tests, no browser.
test-fast: install
	$(BIN)/pytest -m "not slow and not browser" -n 2 -q

clean:
	rm -rf $(VENV) out build .pytest_cache .mypy_cache .ruff_cache
