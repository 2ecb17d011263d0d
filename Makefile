# regwatch: `make run` serves the demo model on 127.0.0.1:8000; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
REGISTRY ?= var/registry
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-python test-gateway run-gateway bench bench-quick clean

$(BIN)/regwatch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

gateway/node_modules/.package-lock.json: gateway/package-lock.json
	cd gateway && npm ci --no-audit --no-fund

run: $(BIN)/regwatch
	@if [ -z "$$($(BIN)/regwatch ls --registry $(REGISTRY) --quiet)" ]; then \
		$(BIN)/regwatch demo --registry $(REGISTRY); fi
	$(BIN)/regwatch serve --registry $(REGISTRY) --host $(HOST) --port $(PORT)

test: test-python

test-python: $(BIN)/regwatch
	$(BIN)/pytest -q

test-gateway: gateway/node_modules/.package-lock.json
	cd gateway && npm test

clean:
	rm -rf $(VENV) gateway/node_modules .pytest_cache .hypothesis
