# The two commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing and install the project into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.diffaudit-installed

.PHONY: demo test install browser lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/diffaudit run --resume

test: install browser
	$(BIN)/python -m pytest

# The report's browser test drives the system Chromium (Debian's package); install it when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 || \
	  echo "note: Chromium could not be installed; the report's browser test will be skipped"

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf runs .pytest_cache
