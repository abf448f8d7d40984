# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN ?= runs/demo

.PHONY: demo test bench lint format install clean student

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch==2.13.0 first: it is a local CPU wheel here; asking for it by exact version keeps pip from a CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The lab's cnn on the built-in data: 15 epochs of the improved recipe (about 1-2 minutes on 2 free cores).
demo: $(STAMP)
	$(BIN)/cnnlab train --backend numpy --model cnn --recipe improved --epochs 15 --out $(RUN) --overwrite

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The student version of the lab's notebook: solution bodies replaced by `raise NotImplementedError()` stubs.
student: $(STAMP)
	$(BIN)/cnnlab student notebooks/lab_cnn.ipynb build/lab_cnn_student.ipynb

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache
