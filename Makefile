# The commands everyone runs. `make demo` and `make test` are the two a newcomer needs; both build
# everything they use into ./.venv from this repository's own files.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
EXTRAS ?= all,test,bench
export AWS_EC2_METADATA_DISABLED := true

.PHONY: demo test build venv lint fmt test-python test-rust bench clean

demo: build
	$(PY) examples/demo.py

test: build lint test-rust test-python

$(BIN)/maturin:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "maturin>=1.9,<2"

venv: $(BIN)/maturin

# Release build: tests and benches move hundreds of MiB, and the wheel users get is a release build.
build: venv
	VIRTUAL_ENV=$(abspath $(VENV)) $(BIN)/maturin develop --release --extras $(EXTRAS)

lint: venv
	$(BIN)/ruff check python tests benches examples
	$(BIN)/ruff format --check python tests benches examples
	cargo fmt --all --check
	cargo clippy --release --all-targets -- -D warnings

fmt: venv
	$(BIN)/ruff format python tests benches examples
	$(BIN)/ruff check --fix python tests benches examples
	cargo fmt --all

test-rust:
	cargo test --release

test-python:
	$(BIN)/pytest -n 2 --dist loadgroup

bench: build
	$(PY) -m benches

clean:
	rm -rf $(VENV) target
