# Prism. `make` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV := ./scripts/uv
RUN := $(UV) run --frozen
HAS_DOCKER := $(shell docker info >/dev/null 2>&1 && docker compose version >/dev/null 2>&1 && echo yes)

.PHONY: help setup up down restart logs status psql migrate replay test check lint typecheck bench schema pin-images build deploy

# `make restart writer`, `make logs writer chat`: the words after restart/logs name services (the
# no-op rules keep make from treating them as targets). `SERVICE=writer` works too.
ifneq ($(filter restart logs,$(firstword $(MAKECMDGOALS))),)
SERVICES := $(strip $(SERVICE) $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS)))
ifneq ($(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS)),)
$(eval $(wordlist 2,$(words $(MAKECMDGOALS)),$(MAKECMDGOALS)):;@:)
endif
endif

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}'

setup: ## Install uv, the Python environment (from uv.lock), the SAM CLI (tools/sam) and write .env
	@$(UV) sync --frozen --all-groups --quiet
	@$(UV) sync --frozen --project tools/sam --quiet
	@$(UV) run --frozen python scripts/bootstrap_env.py

up: setup ## Run the whole system (compose with Docker; local processes without)
ifeq ($(HAS_DOCKER),yes)
	docker compose up -d --build --wait
else
	@echo "No Docker engine: running the functions as local processes"
	@$(RUN) python -m scripts.dev up
endif

down: ## Stop everything `make up` started
ifeq ($(HAS_DOCKER),yes)
	docker compose down
else
	@$(RUN) python -m scripts.dev down
endif

restart: ## Restart one service (`make restart writer`) or, without a name, all of them
ifeq ($(HAS_DOCKER),yes)
	docker compose restart $(SERVICES)
else
	@$(RUN) python -m scripts.dev restart $(SERVICES)
endif

logs: ## Follow the logs (`make logs writer` for one service)
ifeq ($(HAS_DOCKER),yes)
	docker compose logs -f $(SERVICES)
else
	@$(RUN) python -m scripts.dev logs $(SERVICES)
endif

status: ## Each service's state, pid, uptime, restarts; the pipeline's lag, pending, dead letters
ifeq ($(HAS_DOCKER),yes)
	@docker compose ps
	@$(RUN) python -m scripts.dev pipeline
else
	@$(RUN) python -m scripts.dev status
endif

psql: ## Open psql on the Prism database
	@set -a; [ -f .env ] && . ./.env; set +a; psql "$${PRISM_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/prism}"

migrate: setup ## Apply database migrations
	@$(RUN) python -m prism.migrate

replay: setup ## Feed the writer's dead letters back through it, idempotently (python -m writer.replay)
	@$(RUN) python -m writer.replay

test: setup ## Install what is needed and run the tests
	@./scripts/web_deps.sh
	@$(RUN) pytest -q -p no:cacheprovider

check: setup ## Lint, typecheck and test
	@./scripts/web_deps.sh
	@$(RUN) ruff check functions sdk tests bench scripts
	@$(RUN) mypy
	@$(RUN) pytest -q -p no:cacheprovider

lint: setup ## Lint only
	@$(RUN) ruff check functions sdk tests bench scripts

typecheck: setup ## Typecheck only
	@$(RUN) mypy

bench: setup ## Run the benchmarks and print their tables
	@$(RUN) python -m bench

schema: setup ## Regenerate docs/inference-event-v1.schema.json from the contract
	@$(RUN) python -c "import json; from prism.events import json_schema; open('docs/inference-event-v1.schema.json','w').write(json.dumps(json_schema(), indent=2) + '\n')"

pin-images: setup ## Pin the images of compose and the Dockerfiles to their digests (CHECK=1: only check)
	@$(RUN) python scripts/pin_images.py $(if $(CHECK),--check)

# The zip functions alone: with IMAGE_URI (chat images pushed by CI, docs/deploy.md) no Docker is needed.
ZIP_FUNCTIONS := IngestionFunction WriterFunction WriterMaintenanceFunction MigrationsFunction QueryFunction IdentityFunction
STACK ?= prism
stack_output = aws cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs[?OutputKey=='$(1)'].OutputValue" --output text

build: setup ## Build the Lambda artifacts (sam build; IMAGE_URI=...: the zips only)
	sam build $(if $(IMAGE_URI),$(ZIP_FUNCTIONS))

deploy: build ## Deploy to AWS, then the web UI (STACK=prism; sam deploy --guided the first time)
	sam deploy --stack-name $(STACK) $(if $(IMAGE_URI),--parameter-overrides ImageUri=$(IMAGE_URI))
	cd web && npm ci --no-audit --no-fund && npm run build
	$(call stack_output,WebConfigJson) > web/out/config.json
	aws s3 sync web/out "s3://$$($(call stack_output,WebBucketName))" --delete
	aws cloudfront create-invalidation --distribution-id "$$($(call stack_output,DistributionId))" --paths '/*' >/dev/null
	@echo "Prism: $$($(call stack_output,WebUrl))"
