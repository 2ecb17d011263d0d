# regwatch: `make run` serves the demo model on 127.0.0.1:8000; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REGISTRY ?= var/registry
HOST ?= 127.0.0.1
PORT ?= 8000
GATEWAY_PORT ?= 8080

.PHONY: run test test-python test-gateway run-gateway clean bench bench-quick lint lint-python lint-gateway

$(BIN)/regwatch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $@

gateway/node_modules/.package-lock.json: gateway/package-lock.json
	cd gateway && npm ci --no-audit --no-fund

run: $(BIN)/regwatch
	@if [ -z "$$($(BIN)/regwatch ls --registry $(REGISTRY) --quiet)" ]; then \
		$(BIN)/regwatch demo --registry $(REGISTRY); fi
	$(BIN)/regwatch serve --registry $(REGISTRY) --host $(HOST) --port $(PORT)

# The gateway in front of `make run` (another terminal): API_KEYS=$$(openssl rand -hex 32) make run-gateway
run-gateway: gateway/node_modules/.package-lock.json
	@if [ -z "$$API_KEYS$$API_KEYS_FILE" ]; then echo "set API_KEYS=key1,key2 (each at least 16 characters; or API_KEYS_FILE)"; exit 1; fi
	cd gateway && UPSTREAM_URL=http://$(HOST):$(PORT) PORT=$(GATEWAY_PORT) npm start

test: test-python test-gateway

# The Python suite also drives the real gateway, so its node_modules come first.
test-python: $(BIN)/regwatch gateway/node_modules/.package-lock.json
	$(BIN)/pytest -q

test-gateway: gateway/node_modules/.package-lock.json
	cd gateway && npm test

# Lint gate (CI runs it before the tests): style, types, the dependency direction.
lint: lint-python lint-gateway

# mypy and import-linter read the installed name `regwatch.*`: build/lint/regwatch is a
# tree of links over the repository's folders (an editable install's import hook is
# invisible to static tools).
PACKAGES := registry events watcher fleet serving api cli
lint-python: $(BIN)/regwatch
	@mkdir -p build/lint/regwatch && for p in $(PACKAGES); do ln -sfn ../../../$$p build/lint/regwatch/$$p; done
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p regwatch
	PYTHONPATH=build/lint $(BIN)/lint-imports

lint-gateway: gateway/node_modules/.package-lock.json
	cd gateway && npm run lint

clean:
	rm -rf $(VENV) gateway/node_modules .pytest_cache .hypothesis build

# Benchmarks (bench/README.md): print a table, write bench/results/*.json; never fail on a figure.
bench: $(BIN)/regwatch
	$(BIN)/python bench/run.py

bench-quick: $(BIN)/regwatch
	$(BIN)/python bench/run.py --quick
