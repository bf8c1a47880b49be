# One entry point for set-up, tests and the demo.
#   make demo   creates the environment if needed, then runs the main job on
#               the embedded demo data (tools/run_demo.py)
#   make test   creates the environment if needed, then runs the test suite
#   make env    only creates / updates the environment
# The virtual environment lives in .venv (override with MMPEFT_VENV=/path).
# Each install step leaves a stamp, so a second run reinstalls nothing heavy.

VENV ?= $(or $(MMPEFT_VENV),.venv)
PYTHON ?= python3.11
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
PYTEST_ARGS ?=

.PHONY: env test demo clean-env

env: $(VENV)/.stamp-mmpeft

$(PY):
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-torch: requirements/torch.txt | $(PY)
	$(PIP) install -r requirements/torch.txt
	$(PY) -c "import torchvision.ops"
	touch $@

# mmcv needs torch in the environment at build time, so no build isolation;
# pip caches the built wheel, so a fresh environment does not rebuild it.
$(VENV)/.stamp-mmcv: requirements/mmcv.txt requirements/build.txt $(VENV)/.stamp-torch
	$(PIP) install -r requirements/build.txt
	MMCV_WITH_OPS=1 MAX_JOBS=$$(nproc) $(PIP) install --no-build-isolation -r requirements/mmcv.txt -c requirements/runtime.txt
	$(PY) -c "import mmcv.ops"
	touch $@

$(VENV)/.stamp-mmpeft: requirements/runtime.txt requirements/tests.txt setup.py $(VENV)/.stamp-mmcv
	$(PIP) install -r requirements/runtime.txt -r requirements/tests.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	$(PY) -c "import mmcv.ops, torchvision.ops, mmpeft"
	touch $@

test: env
	$(PY) -m pytest tests $(PYTEST_ARGS)

demo: env
	$(PY) tools/run_demo.py $(DEMO_ARGS)

clean-env:
	rm -rf $(VENV)
