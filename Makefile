# `make demo` and `make test` bootstrap .venv with pip from this repository's own files.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast test-min lint typecheck docs bench clean

$(STAMP): pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	DS_BUILD_OPS=0 $(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The main job: the token tagger, then the RL policy (every aggregation mode), each on 4 gloo
# ranks against one process; exits 1 if losskit drifts.
demo: $(STAMP)
	$(BIN)/losskit demo
	$(BIN)/losskit demo --scenario rl

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite, slow multi-process tests included (what CI runs).
test: lint typecheck
	$(BIN)/python -m pytest

# Everything but the tests marked slow.
test-fast: lint typecheck
	$(BIN)/python -m pytest -m "not slow"

# The core suite (the `xp`-fixture tests and the framework-free ones; no TensorFlow) in its own
# .venv-min, against the lowest versions pyproject.toml declares for numpy, array-api-compat and
# jax (tests/test_packaging.py keeps the two lists equal). torch stays the pinned 2.13.0: every
# other torch on the registry is a multi-GB CUDA build here, so its floor is untested.
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed
MIN_PINS := numpy==2.0.0 array-api-compat==1.11.1 jax==0.4.33 jaxlib==0.4.33
MIN_TOOLS := torch==2.13.0 array-api-strict==2.6.1 hypothesis==6.170.15 pytest==9.2.0
CORE_TESTS := tests/test_page_examples.py tests/test_average_loss.py tests/test_weighted_loss.py \
	tests/test_apply_regularization.py tests/test_collections.py tests/test_losses.py \
	tests/test_regularizers.py tests/test_reduction.py tests/test_context.py \
	tests/test_errors.py tests/test_serialization.py tests/property

$(MIN_STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/pip install --quiet $(MIN_PINS) $(MIN_TOOLS) setuptools wheel
	$(MIN_VENV)/bin/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	$(MIN_VENV)/bin/python -m pytest -p no:cacheprovider -m "not slow" $(CORE_TESTS)

# The documentation site in site/: docs/ plus an API page per public module (mkdocs.yml),
# warnings as errors, so a name renamed in the code but not in the docs fails the build.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(MIN_VENV) site .pytest_cache .mypy_cache .ruff_cache .hypothesis
