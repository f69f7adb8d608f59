# tdxray: the two commands of the README's quick start, and a few more.
#   make demo   set up, then ingest the bundled sample traces, replay them and print the report
#   make test   set up, then lint and run the test suite
#   make golden regenerate the golden replay results after a change of model semantics

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
STORE  ?= demo-store

.PHONY: demo test lint bench samples golden clean lock

# pip is retried over a few minutes: a registry or DNS outage of a minute or two must not fail a
# fresh machine's set-up (it did once, in CI); a real missing package still fails after the last try.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	@for wait in 15 45 90 0; do \
	  $(BIN)/python -m pip install --quiet --retries 10 --timeout 30 --upgrade pip && \
	  $(BIN)/python -m pip install --quiet --retries 10 --timeout 30 -c constraints.txt -e '.[dev]' && exit 0; \
	  [ $$wait -eq 0 ] && exit 1; \
	  echo "pip install failed; trying again in $$wait s" >&2; sleep $$wait; \
	done
	touch $(STAMP)

demo: $(STAMP)
	rm -rf $(STORE)
	@for f in sample_traces/*.jsonl; do $(BIN)/tdxray ingest "$$f" -o $(STORE) >/dev/null || exit 2; done
	@echo "ingested $$(ls sample_traces/*.jsonl | wc -l) sample traces into $(STORE)/"
	@$(BIN)/tdxray check $(STORE); status=$$?; \
	  echo; echo "tdxray check exited $$status (1 = divergences found: the faulty sample traces are meant to have them)"; \
	  [ $$status -le 1 ]

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m tdxray.benchmarks

samples: $(STAMP)
	$(BIN)/python sample_traces/make_samples.py

# the golden replay results (tests/data/golden/) after a change of model semantics on purpose
golden: $(STAMP)
	$(BIN)/python -m tdxray.tests.golden

# constraints.txt from the current venv (after changing a dependency in pyproject.toml)
lock: $(STAMP)
	{ sed -n '/^#/p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^tdxray'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) $(STORE) bench-data .pytest_cache .ruff_cache
