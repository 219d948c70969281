# The HTTP API against its own OpenAPI document.
.PHONY: fuzz-api

FUZZ_MAX_TIME ?= 300

fuzz-api: $(STAMP) provision-test ## schemathesis on the running service: every check and phase, FUZZ_MAX_TIME s (300)
	$(PY) scripts/fuzz_api.py --max-time $(FUZZ_MAX_TIME)
