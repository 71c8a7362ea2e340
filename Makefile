# recon_lib: the two commands of the README are `make suite` and `make test`.
# Both do all set-up themselves on a fresh machine with Python >= 3.10: a local venv in .venv,
# the CPU build of torch (pinned for the reference machines), the package, the embedded dataset.

PYTHON ?= python3
VENV   := .venv
PY     := $(CURDIR)/$(VENV)/bin/python
# torch is pinned here (a CPU wheel on the reference machines; an unpinned torch may pull a
# multi-GB CUDA build). The package metadata itself accepts a range: bring your own GPU build.
TORCH_PIN ?= torch==2.13.0
DATA   ?= data/knee
# the shipped models' training set (make train-data): 48 training volumes and the same 2 validation
# volumes as $(DATA) (every split has its own seed stream); about 8 min and 8 GB on 2 cores
TRAIN_DATA ?= data/knee48
SEED   ?= 0
ROOT_FLAG := $(shell [ "$$(id -u)" = 0 ] && echo --allow-root)

# Tests keep Jupyter and matplotlib state inside the venv, never in the user's home.
TEST_HOME := $(CURDIR)/$(VENV)/test-home
TEST_ENV := JUPYTER_CONFIG_DIR=$(TEST_HOME)/jupyter-config JUPYTER_DATA_DIR=$(TEST_HOME)/jupyter-data \
	JUPYTER_RUNTIME_DIR=$(TEST_HOME)/jupyter-runtime IPYTHONDIR=$(TEST_HOME)/ipython \
	MPLCONFIGDIR=$(TEST_HOME)/matplotlib MPLBACKEND=Agg RECON_QUICK=1 RECON_SOLUTIONS=1 PYTHONHASHSEED=0

.PHONY: setup setup-dev data suite lint test test-unit train-data train sn-seed1 evaluate shared-init alpha-validation perception explorer benchmark html clean-data help

help:
	@echo "make suite   - set up, prepare the embedded dataset, open JupyterLab on notebooks/ (HEADLESS=1: execute them)"
	@echo "make test    - set up, lint/format/type checks, prepare data, run every test (unit, doctests, notebooks via nbval, browser)"
	@echo "make train-data | train | evaluate | explorer | benchmark - the pipeline pieces (see README)"
	@echo "make alpha-validation - the validation-split sweep behind the explorer's automatic alpha"
	@echo "make sn-seed1 | shared-init - the shared-initialisation lesson: an SN from seed 1, then its sweep"
	@echo "make html    - export the notebooks (with their outputs) to outputs/html/"

# ---- set-up --------------------------------------------------------------------------------
# One stamp per set of extras (pyproject.toml), so each target installs only what it runs:
# setup (the suite and the pipeline): [notebooks]; lint, test-unit: + [dev]; test: + [browser].
setup: $(VENV)/.installed-suite
setup-dev: $(VENV)/.installed-dev

# A larger set also stamps the smaller ones it includes, so `make test` installs once.
$(VENV)/.installed-suite: EXTRAS := notebooks
$(VENV)/.installed-dev: EXTRAS := notebooks,dev
$(VENV)/.installed-dev: INCLUDES := $(VENV)/.installed-suite
$(VENV)/.installed-test: EXTRAS := notebooks,dev,browser
$(VENV)/.installed-test: INCLUDES := $(VENV)/.installed-suite $(VENV)/.installed-dev
$(VENV)/.installed-suite $(VENV)/.installed-dev $(VENV)/.installed-test: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python >= 3.10 is required, found " + sys.version.split()[0])'
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_PIN)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@ $(INCLUDES)

# ---- the embedded dataset (generated, then prepared; both steps skip finished volumes) -----
data: setup
	$(PY) data_scripts/make_knee_dataset.py --out $(DATA) --seed $(SEED)
	$(PY) data_scripts/prepare_dataset.py $(DATA)

# ---- command 1: the suite ------------------------------------------------------------------
suite: data
ifeq ($(HEADLESS),1)
	$(PY) -m jupyter nbconvert --to notebook --execute --output-dir outputs/notebooks notebooks/*.ipynb
else
	$(PY) -m jupyter lab --ip=127.0.0.1 $(ROOT_FLAG) notebooks/
endif

# ---- command 2: every test -----------------------------------------------------------------
# Static checks first (seconds), the same commands as .pre-commit-config.yaml's hooks.
LINT_CMDS := "ruff check ." "ruff format --check ." "mypy"
lint: setup-dev
	@for cmd in $(LINT_CMDS); do echo "$$cmd"; $(VENV)/bin/$$cmd || exit 1; done

# --doctest-modules over recon_lib runs every Example: in the library's docstrings.
test: $(VENV)/.installed-test lint data
	@bash .ci/ensure_chromium.sh
	$(TEST_ENV) $(PY) -m pytest tests notebooks recon_lib --doctest-modules --nbval-lax -p no:cacheprovider

# The quick loop: no browser, no multi-process training (the markers in pyproject.toml), no notebooks.
test-unit: setup-dev
	$(TEST_ENV) $(PY) -m pytest tests recon_lib --doctest-modules -m "not browser and not multiprocess" -p no:cacheprovider

# ---- the rest of the pipeline ------------------------------------------------------------
train-data: setup
	$(PY) data_scripts/make_knee_dataset.py --out $(TRAIN_DATA) --seed $(SEED) --train 48 --val 2 --test 0
	$(PY) data_scripts/prepare_dataset.py $(TRAIN_DATA)

train: train-data
	$(PY) -m recon_lib.train --config configs/teaching.yaml --set data.root=$(TRAIN_DATA)
	$(PY) -m recon_lib.training.summary --checkpoints checkpoints --out docs/results/training

# The shared-initialisation lesson (notebook 06): an SN pre-trained from another seed for 6 epochs
# on the embedded dataset's 12 training volumes (about 5 min on 2 cores), shipped as
# checkpoints/sn_seed1.pt, and its alpha sweep against SN -> SN-GAN.
sn-seed1: data
	$(PY) -m recon_lib.train --config configs/teaching.yaml --stage pretrain --set seed=1 --set data.root=$(DATA) \
		--set checkpoint_dir=runs/seed1/checkpoints --set output_dir=runs/seed1 --set stages.pretrain.epochs=6 \
		--set stages.pretrain.lr=1e-4 --set stages.pretrain.lr_schedule=constant
	cp runs/seed1/checkpoints/sn_pretrained.pt checkpoints/.sn_seed1.pt.tmp && mv checkpoints/.sn_seed1.pt.tmp checkpoints/sn_seed1.pt

shared-init: data
	MPLBACKEND=Agg $(PY) -m recon_lib.shared_init --data $(DATA) --checkpoints checkpoints --out docs/results/shared_init

# The automatic alpha's validation sweep (read by the explorer's "go to alpha*" row; about two minutes).
# Two mask draws per volume, the SN-GAN shipping rule's (recon_lib.training.selection.MASK_SEEDS): on
# one draw the SN-GAN's PSNR cost on the PDFS validation volume was +0.1 dB, on the other -1.7 dB.
alpha-validation: data
	$(PY) -m recon_lib.alpha_validation --data $(DATA) --checkpoints checkpoints --out docs/results/alpha_validation --mask-seeds 2

# Perception as Blau & Michaeli mean it: a held-out critic and texture statistics against the truth
# (about 10 min on 2 cores). Its Table 1 perception columns read make evaluate's table1.json: run
# evaluate first.
perception: data
	$(PY) -m recon_lib.perception --data $(DATA) --checkpoints checkpoints --out docs/results/perception

evaluate: data
	MPLBACKEND=Agg $(PY) -m recon_lib.evaluate --data $(DATA) --checkpoints checkpoints --out docs/results/evaluation --device auto

explorer: data
	$(PY) -m voila apps/alpha_explorer.ipynb --no-browser --Voila.ip=127.0.0.1 --port=8866

benchmark: setup
	$(PY) benchmarks/benchmark.py --threads 2 --json docs/results/benchmark.json

# the notebooks with their committed outputs as HTML (for instructors and offline reading)
html: setup
	$(PY) -m jupyter nbconvert --to html --output-dir outputs/html notebooks/*.ipynb

clean-data:
	rm -rf $(DATA) $(TRAIN_DATA)
