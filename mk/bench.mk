# Benchmarks (issue 8): see bench/__main__.py and docs/benchmarks.md.
.PHONY: bench bench-smoke
BENCH_ARGS ?=

bench: $(STAMP) ## Benchmarks vs same-run baselines on durable private clusters (BENCH_ARGS="--scale 0.1 --rows append")
	@scripts/provision.sh binaries
	set -a && . .local/pg.env && set +a && $(PY) -m bench $(BENCH_ARGS)

bench-smoke: $(STAMP) provision-test ## The benchmarks with tiny sizes on the test clusters (also part of make test)
	set -a && . .local/test.env && set +a && $(PY) -m bench --smoke --strict --out .local/bench-smoke \
	  --server timescaledb=$$SENSORHUB_TEST_TSDB_URL --server postgres=$$SENSORHUB_TEST_PLAIN_URL
