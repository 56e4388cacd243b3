# eresident: `make run` starts both region nodes on SQLite; `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-deps run test test-fast lock bench clean fuzz audit-deps soak

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

system-deps:
	./scripts/system-deps.sh

run: install
	$(BIN)/eresident up

test: install system-deps
	$(BIN)/pytest -q -n 2 --dist loadfile

test-fast: install
	$(BIN)/pytest -q -x -m "not slow"

lock:
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra test --generate-hashes --python-version 3.11 -o requirements.lock

# Bad input on every route with a larger budget (docs/reliability.md): 200 generated cases per
# operation instead of make test's 25, plus the targeted cases; on PostgreSQL too when
# ERESIDENT_TEST_POSTGRES_URL is set. FUZZ_EXAMPLES=n to change the budget.
FUZZ_EXAMPLES ?= 200
fuzz: install
	ERESIDENT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q -s --timeout 3600 \
		tests/reliability/test_fuzz_api.py tests/reliability/test_bad_input.py

# Known vulnerabilities in the locked dependencies (pip-audit through PyPI); the test says how
# many packages it could look up, fails on a finding and skips when nothing could be looked up.
audit-deps: install
	-$(BIN)/pip-audit -r requirements.lock --require-hashes --disable-pip --progress-spinner off
	$(BIN)/pytest -q -rs -s tests/reliability/test_supply_chain.py

bench: install
	$(BIN)/eresident bench residency

clean:
	rm -rf $(VENV) var test-artifacts .pytest_cache

# Long runs with a bound (SOAK_MINUTES per suite): many SIGKILLs of a node under concurrent writes at
# moments that change from run to run (the seed is in the report), the two-node kill/restart tests,
# and the API fuzzing with a larger budget. Reports go to test-artifacts/reliability/.
SOAK_KILLS ?= 30
SOAK_MINUTES ?= 20
FUZZ_SCENARIOS ?= 300
SOAK_FAULT_ROUNDS ?= 5
soak: install system-deps
	ERESIDENT_SOAK_KILLS=$(SOAK_KILLS) $(BIN)/pytest -q -s -p no:randomly --timeout $$(( $(SOAK_MINUTES) * 60 )) \
		tests/reliability/test_crash.py tests/federation/test_two_nodes.py tests/federation/test_cross_region_two_nodes.py
	ERESIDENT_SOAK_FAULT_ROUNDS=$(SOAK_FAULT_ROUNDS) $(BIN)/pytest -q -s -p no:randomly --timeout $$(( $(SOAK_MINUTES) * 60 )) \
		tests/reliability/test_faults.py
	ERESIDENT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) ERESIDENT_FUZZ_SCENARIOS=$(FUZZ_SCENARIOS) $(BIN)/pytest -q -s \
		--timeout $$(( $(SOAK_MINUTES) * 60 )) tests/reliability/test_fuzz_api.py tests/reliability/test_fuzz_stateful.py \
		tests/reliability/test_bad_input.py
