# Two commands for a newcomer: `make book` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: book test venv clean results results-status reproduce bench bench-merged gpu gpu-light gpu-restore import-results authors

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,gpu]"
	touch $(STAMP)

venv: $(STAMP)

## Execute every chapter with the `book` profile and write the HTML to _build/html.
book: $(STAMP)
	$(VENV)/bin/mifd book --profile book

## Run the whole test suite (unit tests, notebooks under papermill, the book build).
test: $(STAMP)
	$(PY) -m pytest -q

SEPARATION_KERAS := --set conditions=mi_l2 --set sweep_l2= --set adam_eps=1e-7 \
  --set critic_double_bias=true
# the same condition's first 400 MM steps with bf16 statistics-network states
# (mifd.paper.variants.SEPARATION_BF16)
SEPARATION_BF16 := --set conditions=mi_l2 --set sweep_l2= --set sm_states=bf16 --set mm_steps=400
SEPARATION_FP32_ALONE := --set conditions=mi_l2 --set sweep_l2= --set mm_steps=400

## Recompute the committed `book` results that other code made and this code does not
## reproduce on replay (those it made or reproduces are kept; an interrupted run resumes) and
## copy them to results/committed.
results: $(STAMP)
	# first replay the start of each result other code made: those this code reproduces bit
	# for bit are kept (mifd.results.replay); the rest are recomputed below
	-$(VENV)/bin/mifd reproduce --quiet
	$(VENV)/bin/mifd run mine-gaussian --profile book --refresh --no-progress \
	  --out _build/summaries/mine-gaussian && \
	  $(VENV)/bin/mifd commit-results mine-gaussian --profile book
	# wm and separation: their conditions in two processes, one per core (committed as parts)
	for e in wm separation; do \
	  $(VENV)/bin/mifd run $$e --profile book --parts 2 --refresh --no-progress \
	    --out _build/summaries/$$e && \
	  $(VENV)/bin/mifd commit-results $$e --profile book || exit 1; done
	# the audit of the wm networks (reads the wm run just made)
	$(VENV)/bin/mifd run wm-audit --profile book --refresh --no-progress \
	  --out _build/summaries/wm-audit && \
	  $(VENV)/bin/mifd commit-results wm-audit --profile book
	# BIMT beside MI minimization on both tasks (book/bimt.ipynb)
	for e in bimt bimt-separation; do \
	  $(VENV)/bin/mifd run $$e --profile book --parts 2 --refresh --no-progress \
	    --out _build/summaries/$$e && \
	  $(VENV)/bin/mifd commit-results $$e --profile book || exit 1; done
	# is MINE needed? critic-free dependence penalties, the λ dose-response, K > 2 groups; the
	# penalties in six parts of ≈ 4 GB (all 20 conditions in two processes hold ≈ 9 GB each),
	# as `mifd jobs` plans them, one per core at a time
	for e in "penalties 6" "penalties-separation 2"; do set -- $$e; \
	  $(VENV)/bin/mifd run $$1 --profile book --parts $$2 --refresh --no-progress \
	    --out _build/summaries/$$1 && \
	  $(VENV)/bin/mifd commit-results $$1 --profile book || exit 1; done
	# Growing Brains: BIMT, L1, none and the Gaussian MI between the grid halves on the 20
	# cognitive tasks (neurogym)
	$(VENV)/bin/mifd run growing-brains --profile book --parts 2 --refresh --no-progress \
	  --out _build/summaries/growing-brains && \
	  $(VENV)/bin/mifd commit-results growing-brains --profile book
	# the runs the working-memory chapters read beside the book run (the fade's screen, our side
	# of the comparison with the authors' code, the mechanism, the audit of the 20-trial run, the
	# variants at 1000 epochs, BIMT and the penalties with the defaults: mifd.results.jobs), those
	# not committed yet, two processes at a time, each committed as it finishes
	$(VENV)/bin/mifd jobs --parallel 2
	# the discrepancy appendix: separation's L2 + MI condition with Keras' Adam ε and the
	# authors' doubled critic bias (mifd.paper.variants.SEPARATION_KERAS)
	$(VENV)/bin/mifd run separation --profile book $(SEPARATION_KERAS) --refresh --no-progress \
	  --out _build/summaries/separation-keras && \
	  $(VENV)/bin/mifd commit-results separation --profile book $(SEPARATION_KERAS)
	# the performance page: what bf16 storage of the statistics network's states changes, and
	# its control (the same steps in fp32, the condition alone in its batch)
	for s in "$(SEPARATION_BF16)" "$(SEPARATION_FP32_ALONE)"; do \
	  $(VENV)/bin/mifd run separation --profile book $$s --refresh --no-progress \
	    --out _build/summaries/separation-400 && \
	  $(VENV)/bin/mifd commit-results separation --profile book $$s || exit 1; done

## Which committed results this checkout's code made (exit 1 if any was made by other code).
results-status: $(STAMP)
	$(VENV)/bin/mifd results-status

reproduce: $(STAMP)
	$(VENV)/bin/mifd reproduce

## Time the training loops at the published sizes on this machine; the JSON goes to results/committed/bench.
## BENCH_BF16= drops the bf16 rows: on a CPU without AVX-512 (an AMD EPYC VM here) one such row
## took over 40 minutes.
BENCH_BF16 ?= --bf16
bench: $(STAMP)
	mkdir -p results/committed/bench
	$(VENV)/bin/mifd bench --device auto --experiments wm --trials 1,2 --epochs 2 --two-pass --compile $(BENCH_BF16) --fused --allocator \
	  --out results/committed/bench/wm-$$(hostname)-$$(date +%Y%m%d).json
	$(VENV)/bin/mifd bench --device auto --experiments separation --trials 1 --epochs 1 --warmup 0 --fused \
	  --out results/committed/bench/separation-$$(hostname)-$$(date +%Y%m%d).json

## Only the hand-written-BPTT rows beside the default (a shorter run; the files say "merged").
bench-merged: $(STAMP)
	mkdir -p results/committed/bench
	$(VENV)/bin/mifd bench --device auto --experiments wm --trials 1,2 --epochs 2 --no-port \
	  --rows mifd+fused,mifd+fused+merged --out results/committed/bench/wm-merged-$$(hostname)-$$(date +%Y%m%d).json
	$(VENV)/bin/mifd bench --device auto --experiments separation --trials 1 --epochs 1 --warmup 0 \
	  --rows mifd+fused,mifd+fused+merged --out results/committed/bench/separation-merged-$$(hostname)-$$(date +%Y%m%d).json

## On a lent GPU (no install there: its python3 has torch): the CUDA tests, a probe and the wm
## `paper` run that fits GPU_MINUTES, into one results folder ($$OUT/results on the device tool,
## else _build/gpu/results). Name the commit: make gpu MIFD_GIT_COMMIT=$$(git rev-parse HEAD).
## Back here: make import-results FOLDER=... checks the folder and copies it to results/committed.
GPU_MINUTES ?= 8.5
GPU_PYTHON ?= python3
GPU_OUT ?= $(if $(OUT),$(OUT),_build/gpu)/results
gpu:
	rm -rf $(GPU_OUT)
	PYTHONPATH=$(CURDIR) PYTHONUNBUFFERED=1 MIFD_PROGRESS=0 MIFD_STORE=$(CURDIR)/_build/gpu-store \
	  $(GPU_PYTHON) -m mifd.cli gpu-session --out $(GPU_OUT) --minutes $(GPU_MINUTES) $(GPU_ARGS)

## What travels to a GPU machine (64 MiB at most): plan the session here, leave the committed
## results behind for the call (prints the GPU_ARGS to pass), then restore them.
gpu-light: $(STAMP)
	$(VENV)/bin/mifd gpu-tree light $(GPU_ARGS)

gpu-restore: $(STAMP)
	$(VENV)/bin/mifd gpu-tree restore

import-results: $(STAMP)
	$(VENV)/bin/mifd import-results $(FOLDER)

## The authors' TensorFlow wm code beside ours (issue 39): SEEDS at critic width WIDTH, 1000
## epochs, one process per core (one thread, nice 19), each seed recorded in
## results/committed/authors-wm and committed to git as it finishes; run again to resume.
## TensorFlow and their checkout live outside the repository: `python -m mifd.authors setup`.
SEEDS ?= 1001-1010
WIDTH ?= 64
AUTHORS_PARALLEL ?= 2
authors: $(STAMP)
	$(PY) -m mifd.authors run --seeds $(SEEDS) --width $(WIDTH) --parallel $(AUTHORS_PARALLEL) \
	  --git-commit

clean:
	rm -rf _build
