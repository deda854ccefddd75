# Two commands for a newcomer: `make book` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: book test venv clean results

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

## Execute every chapter with the `book` profile and write the HTML to _build/html.
book: $(STAMP)
	$(VENV)/bin/mifd book --profile book

## Run the whole test suite (unit tests, notebooks under papermill, the book build).
test: $(STAMP)
	$(PY) -m pytest -q

## Recompute the committed results of the `book` profile and copy them to results/committed.
results: $(STAMP)
	for e in mine-gaussian wm separation; do \
	  $(VENV)/bin/mifd run $$e --profile book --force --no-progress --out _build/summaries/$$e && \
	  $(VENV)/bin/mifd commit-results $$e --profile book || exit 1; done

clean:
	rm -rf _build
