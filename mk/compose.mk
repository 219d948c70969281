# tests/compose needs Debian's nginx (nginx -t) and prometheus (promtool); installed once, idempotently.
.PHONY: compose-tools
compose-tools: ## Install the tools tests/compose runs (nginx, promtool)
	@scripts/install-test-tools.sh

pytest test-long: compose-tools
