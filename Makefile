# The two commands of the README: `make run` (the whole pipeline) and `make test` (the suite).
# Everything else is set up on the way: the virtual environment, the pinned install, the sources.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PROFILE ?= default

.PHONY: install debian-sources run test lint format repro clean stack-up stack-down stack-status serve serve-model

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c requirements.lock -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The main job: data -> validate -> train -> evaluate -> export -> register -> promote.
run: install
	$(BIN)/clip-pipeline --profile $(PROFILE) run

# Debian packages behind the opt-in corpus sources (Tux Paint, Openclipart, Fashion-MNIST, flags,
# cards); the suite tests them. Installs what is missing when run as root, else says what to run.
debian-sources:
	bash scripts/install_debian_sources.sh

# The suite reuses the project's source cache (one npm download for `make run` and the tests).
test: install debian-sources
	CLIP_TEST_SOURCES=$(CURDIR)/.cache/sources $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

# Reproduce on a clean clone: rebuild the corpus (byte-identical to data.dvc), then the stages.
repro: install
	$(BIN)/clip-pipeline data build
	$(BIN)/dvc repro

# The local stack of real servers (SeaweedFS, MLflow, Prefect, Ray head) on 127.0.0.1; while it
# is up, `make run` uses it. `make serve` serves the weekly retraining schedule (prefect.yaml).
stack-up: install
	$(BIN)/clip-pipeline stack up

stack-down: install
	$(BIN)/clip-pipeline stack down

stack-status: install
	$(BIN)/clip-pipeline stack status

serve: install
	$(BIN)/clip-pipeline --profile $(PROFILE) serve

# The champion over HTTP on 127.0.0.1:5001 (MLflow's scoring server), until Ctrl-C.
serve-model: install
	$(BIN)/clip-pipeline --profile $(PROFILE) serve-model

clean:
	rm -rf artifacts mlruns .prefect
