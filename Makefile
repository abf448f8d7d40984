# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
RUN ?= runs/demo

.PHONY: demo test bench accuracy selection lint format install clean student

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch==2.13.0 first: it is a local CPU wheel here; asking for it by exact version keeps pip from a CUDA build.
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# A second environment with NumPy 1.26 (the oldest NumPy cnnlab supports): the grading tests grade the same
# submissions in both and require the same reports (tests/grading/test_numpy_versions.py).
NP1 := .venv-np1
NP1_STAMP := $(NP1)/.installed
$(NP1_STAMP): pyproject.toml
	test -x $(NP1)/bin/python || $(PY) -m venv $(NP1)
	$(NP1)/bin/python -m pip install -q --upgrade pip
	$(NP1)/bin/python -m pip install -q 'numpy==1.26.4' 'pyseccomp>=0.1.2'
	$(NP1)/bin/python -m pip install -q --no-deps -e .
	touch $(NP1_STAMP)

# The lab's cnn on the built-in data: 15 epochs of the improved recipe (about 1-2 minutes on 2 free cores).
demo: $(STAMP)
	$(BIN)/cnnlab train --backend numpy --model cnn --recipe improved --epochs 15 --out $(RUN) --overwrite

test: $(STAMP) $(NP1_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadgroup

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# The accuracy and speed figures README.md and docs/ quote, into docs/figures.md (about 20 minutes, 1 core).
accuracy: $(STAMP)
	$(BIN)/python benchmarks/accuracy.py

# The cross-validation record of how the improved recipe was chosen, into docs/selection.md (about 3 hours of
# CPU, two candidates at a time; stop and rerun to continue: the fold runs stay in runs/selection).
selection: $(STAMP)
	$(BIN)/python benchmarks/selection.py

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
	rm -rf $(VENV) $(NP1) build dist src/*.egg-info .pytest_cache .ruff_cache
