# The two commands of the README. Each creates .venv on first use.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.tfvidgen-installed
# Two pytest workers (pytest-xdist), each test module on one worker: the
# suite is mostly single-threaded tracing, so 2 workers fill 2 cores.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: quickstart test install benchmark clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Pre-trains an image GAN on frames of the built-in synthetic_expressions
# faces (runs/quickstart/pretrain), then trains RJGAN from its G_I into
# runs/quickstart, writes runs/quickstart/samples.gif and exports a SavedModel
# to runs/quickstart/export/rjgan/<step>/. Re-running resumes (or does nothing).
quickstart: $(STAMP)
	$(PY) bin/train --flagfile=configs/quickstart_pretrain.cfg
	$(PY) bin/train --flagfile=configs/quickstart.cfg --export_after_training

test: $(STAMP)
	$(PY) -m pytest -q $(PYTEST_ARGS)

benchmark: $(STAMP)
	$(PY) bin/benchmark --model=mocogan --preset=reference

clean:
	rm -rf runs .pytest_cache
