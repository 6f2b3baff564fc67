# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
# A pinned CPU build of torch is installed first: an unpinned torch pulls a multi-GB CUDA build.
TORCH ?= torch==2.13.0

BIN := $(VENV)/bin
STAMP := $(VENV)/.amalg-installed

.PHONY: run test bench check-cuda pretrained lint typecheck format clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Tunes Adam and RMSProp (stored: a second run skips it), distills them into RNNProp with
# min-max amalgamation on the offline default task, and compares the student with the tuned
# teachers and the oracle there and on a held-out task.
run: $(STAMP)
	$(BIN)/amalg run --teacher adam --teacher rmsprop --scheme minmax \
		--set 'evaluation.tasks=["digits_mlp"]'

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The speed and memory benchmarks, appended to benchmarks/RESULTS.md (ratios to baselines
# measured in the same run; about 10 minutes on 2 cores).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py

# On a machine with an NVIDIA GPU (and a CUDA build of torch: TORCH=torch==2.13.0 from the
# CUDA index): the checks that compare CUDA with the CPU, which the tests otherwise run CPU
# against CPU, then the GPU benchmark sections, appended to benchmarks/RESULTS.md.
check-cuda: $(STAMP)
	$(BIN)/python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'no CUDA device: check-cuda needs a GPU')"
	$(BIN)/python -m pytest -q tests/core/test_device.py tests/core/test_compiled.py amalg/testing -k "device or compiled"
	$(BIN)/python benchmarks/bench.py --device cuda --sections bg

# Trains the optimizers shipped in amalg/pretrained/ from their seeds and exports them
# (a finished run in results/pretrained is reused: a rerun only exports).
pretrained: $(STAMP)
	$(BIN)/python scripts/pretrained.py --jobs 2

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy amalg

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache .mypy_cache
