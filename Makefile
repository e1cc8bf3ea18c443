# The two commands a newcomer needs are `make run` and `make test`; both set up everything
# (virtualenv, packages, Kafka jars, PostgreSQL) on a fresh machine.
SHELL := /bin/bash
# Compiled bytecode is cached (some machines set PYTHONDONTWRITEBYTECODE, which makes every
# process compile every module again: three times slower to start a test run or a service).
unexport PYTHONDONTWRITEBYTECODE
UV_VERSION := 0.13.8
UV := .tools/bin/uv
PY := .venv/bin/python
PACKAGES := -p mooring -p connector -p token_keeper -p health_checker -p notifier -p billing_gate -p platform_sim
TESTS := shared services sim tests

.PHONY: install infra infra-stop infra-status run test test-unit test-failures lint fmt bench schemas openapi asyncapi k8s observability clean job demo token browser

$(UV):
	python3 -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

.venv/.installed: $(UV) uv.lock pyproject.toml shared/pyproject.toml sim/pyproject.toml services/*/pyproject.toml
	$(UV) sync --all-packages --frozen --quiet --compile-bytecode
	touch $@

install: .venv/.installed

infra: install
	$(PY) deploy/local/stack.py start

infra-stop:
	$(PY) deploy/local/stack.py stop

infra-status:
	$(PY) deploy/local/stack.py status

run: install
	$(PY) deploy/local/run.py

test: infra browser
	set -a && . .run/infra.env && set +a && $(PY) -m pytest $(TESTS) -q -ra

# Debian's chromium for the browser test (Playwright's own download cannot reach its host here).
browser:
	@test -x /usr/bin/chromium || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

# A gateway token for any workspace and role: make token WORKSPACE=<uuid> ROLE=member [USER_ID=..]
# (signed with MOORING_GATEWAY_JWT_SECRET, else the one `make run` keeps in .run/dev-secrets.env).
token: install
	@$(PY) -m mooring.cli.dev_token --env-file .run/dev-secrets.env --workspace "$(WORKSPACE)" \
		--role "$(or $(ROLE),owner)" --user "$(or $(USER_ID),dev-user)"

# The fast tier: no broker, no database, nothing started (markers, see conftest.py).
test-unit: install
	MOORING_TEST_TIER=unit $(PY) -m pytest $(TESTS) -q -ra -n 2 -m "not integration and not connected and not e2e"

# The failure suite (tests/failures): SIGKILLed services, Kafka and PostgreSQL restarts, poison
# events, a platform outage. It starts, stops and restarts a broker and a server of its own
# (127.0.0.1:19096 and :55433), never the ones `make test` or `make run` use.
test-failures: install
	$(PY) -m pytest tests/failures -q -ra

# Run a scheduled job now against the stack `make run` started: make job NAME=social:check-connections
job: install
	$(PY) deploy/local/job.py "$(NAME)"

# The story of a connection's life, told against the stack `make run` started (docs/operations.md)
demo: install
	$(PY) deploy/local/demo.py

lint: install
	.venv/bin/ruff format --check .
	.venv/bin/ruff check .
	.venv/bin/mypy $(PACKAGES)

fmt: install
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

bench: infra
	set -a && . .run/infra.env && set +a && $(PY) bench/run.py

schemas: install
	$(PY) -m mooring.events.schemas deploy/schemas

openapi: install
	$(PY) deploy/local/openapi.py

asyncapi: install
	$(PY) deploy/local/asyncapi.py

k8s: install
	$(PY) deploy/k8s/generate.py

observability: install
	$(PY) deploy/observability/generate.py

clean: infra-stop
	rm -rf .run
