# Infrastructure targets, included by the top-level Makefile.
#   make plan STACK=dev               table of every resource the program declares for a stack (offline, mocks)
#   make plan-diff FROM=staging TO=prod   what the two stacks declare differently (offline, mocks): secrets
#                                     redacted, differing parts shown, '+-'/'!' where the change replaces
#   make infra-test                   the Pulumi program under mocks, policy pack, class checks, manifests,
#                                     hadolint, checkov (docs/deploy.md, Known limits: what it cannot prove)
#   make checkov                      checkov over the rendered manifests and app/Dockerfile
# `plan` is the declared graph under Pulumi mocks, not a cloud diff: `pulumi preview --diff` is.

VENV ?= .venv
STACK ?= dev
FROM ?= staging
TO ?= prod

.PHONY: plan plan-diff infra-test checkov infra-lint

plan:
	$(VENV)/bin/python infra/offline/plan.py plan $(STACK)

plan-diff:
	$(VENV)/bin/python infra/offline/plan.py diff $(FROM) $(TO)

infra-test:
	$(VENV)/bin/python -m pytest tests/infra -q

infra-lint:
	$(VENV)/bin/ruff check infra tests/infra scripts
	$(VENV)/bin/pyright infra tests/infra

checkov:
	$(VENV)/bin/python -c "from pathlib import Path; from infra.offline import manifests, mocks; \
	[manifests.write(mocks.run_stack(s), Path('.local/manifests') / s) for s in mocks.STACKS]"
	scripts/checkov.sh --config-file infra/checkov.yaml -d .local/manifests --framework kubernetes
	scripts/checkov.sh --config-file infra/checkov.yaml -f app/Dockerfile --framework dockerfile
