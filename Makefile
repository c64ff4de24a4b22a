# The two commands of the README: `make demo` and `make test`.
# Both create .venv if it is missing and install the package into it.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.snnsuite-installed

.PHONY: demo test test-slow install bench bench-grid bench-ei-rnn bench-scaling bench-backends clean

$(STAMP): setup.cfg pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build of torch first, so the dependency resolver never pulls a CUDA build
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	rm -rf results/demo
	$(VENV)/bin/snnsuite run configs/chaos_quick.yaml --out results/demo

test: $(STAMP)
	$(PY) -m pytest -q -n auto --maxprocesses 4 --dist worksteal

test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow

bench: $(STAMP)
	$(PY) benchmarks/chaos_point.py

bench-ei-rnn: $(STAMP)
	$(PY) benchmarks/ei_rnn.py

bench-grid: $(STAMP)
	rm -rf results/grid_benchmark
	$(PY) benchmarks/grid.py --out results/grid_benchmark

# N = 1000 ... 16000, runtime (Cython) and cpp_standalone, 1 s each: about 4.5 GB at
# N = 16000 (drawing the fixed in-degree); run on a quiet machine
bench-scaling: $(STAMP)
	$(PY) benchmarks/scaling.py --out results/scaling.json

# the quick grid and 4 points of the default grid on runtime, cpp compiled once and cpp
# recompiled per point (about 10 min on 2 cores)
bench-backends: $(STAMP)
	$(PY) benchmarks/backends.py --out results/backends.json

clean:
	rm -rf results build *.egg-info
