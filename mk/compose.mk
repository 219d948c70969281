# tests/compose needs Debian's nginx (nginx -t) and prometheus (promtool); installed once, idempotently.
.PHONY: compose-tools
compose-tools: ## Install the tools tests/compose runs (nginx, promtool)
	@scripts/install-test-tools.sh

pytest test-long: compose-tools

# ---------------------------------------------------------------- the image and the stack, run for real
# scripts/docker.sh installs and starts a Docker engine when none answers (`make docker-stop` stops only
# one it started); scripts/containers.sh builds and runs; docs/containers.md explains both.
CONTAINER_PYTEST := SENSORHUB_CONTAINER_SUITES=1 $(VENV)/bin/pytest
.PHONY: image compose-up compose-e2e compose-down docker-stop

image: $(STAMP) ## Build sensorhub:local, then prove it: pod security context, migrate, API/workers ready, ingest, HEALTHCHECK, bad config, contents
	@scripts/containers.sh image
	@scripts/containers.sh build timescaledb
	$(CONTAINER_PYTEST) tests/compose/image $(PYTEST_ARGS)

compose-up: ## Build and start the compose stack (local builds), return once the API answers through nginx; honours API_PORT, SENSORHUB_BOOTSTRAP_ADMIN_KEY
	@scripts/containers.sh up

compose-e2e: $(STAMP) ## End-to-end suite through nginx against the running stack (`make compose-up` first)
	$(CONTAINER_PYTEST) tests/compose/e2e $(PYTEST_ARGS)

compose-down: ## Stop and remove the stack; `make compose-down VOLUMES=1` also deletes its volumes
	@scripts/containers.sh down $(if $(VOLUMES),--volumes)

docker-stop: ## Stop dockerd if this checkout started it (images and volumes stay)
	@scripts/docker.sh stop
