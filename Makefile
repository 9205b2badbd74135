# Entry points. Everything runs inside .venv (made by `make setup` / .ci/setup).
#   make setup        create/refresh .venv, system packages, OpenBLAS hook, Jupyter kernel
#   make lab          JupyterLab on notebooks/  (ARGS="--port 8899", IP=0.0.0.0)
#   make notebooks    execute every notebook headless, in place (refreshes stored outputs)
#   make test         .ci/test (pytest, nbval notebooks, ruff); ARGS="-k whisper" goes to pytest
#   make lint         ruff check .
#   make bench        run benchmarks/*.py
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
BIN := $(VENV)/bin
KERNEL := mlx-audio-lab
ARGS ?=
IP ?=

# MLX's Linux wheel bundles a slow reference BLAS; preload OpenBLAS for every process started here.
OPENBLAS := $(firstword $(wildcard /usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0 \
                                   /usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0))
ifneq ($(OPENBLAS),)
ifeq ($(findstring $(OPENBLAS),$(LD_PRELOAD)),)
export LD_PRELOAD := $(OPENBLAS)$(if $(LD_PRELOAD),:$(LD_PRELOAD))
endif
# Debian 12's OpenBLAS runs SSE3 kernels on AVX-512 CPUs it does not know: name the family (_blas.core_type)
ifeq ($(OPENBLAS_CORETYPE),)
ifeq ($(shell grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | tr ' ' '\n' | grep -cxE 'avx512(f|cd|bw|dq|vl)'),5)
export OPENBLAS_CORETYPE := SkylakeX
endif
endif
endif

# JupyterLab: no browser without a display (Linux) or over SSH; root needs --allow-root.
LAB_FLAGS :=
ifeq ($(shell uname -s),Linux)
ifeq ($(DISPLAY)$(WAYLAND_DISPLAY),)
LAB_FLAGS += --no-browser
endif
endif
ifneq ($(SSH_CONNECTION),)
LAB_FLAGS += --no-browser
endif
ifeq ($(shell id -u),0)
LAB_FLAGS += --allow-root
endif
ifneq ($(IP),)
LAB_FLAGS += --ip=$(IP)
endif

NOTEBOOKS = $(shell find notebooks -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*' 2>/dev/null | sort)
BENCHES = $(sort $(wildcard benchmarks/*.py))

.PHONY: help setup lab notebooks test lint bench

help:
	@sed -n 's/^#   //p' $(MAKEFILE_LIST)

setup:
	@.ci/setup

lab: setup
	$(BIN)/jupyter lab notebooks/ $(sort $(LAB_FLAGS)) $(ARGS)

notebooks: setup
	@if [ -z "$(NOTEBOOKS)" ]; then echo "no notebooks under notebooks/"; exit 0; fi; \
	for nb in $(NOTEBOOKS); do \
	  echo "== executing $$nb"; \
	  $(BIN)/jupyter nbconvert --to notebook --execute --inplace \
	    --ExecutePreprocessor.kernel_name=$(KERNEL) --ExecutePreprocessor.timeout=1800 $(ARGS) "$$nb" || exit 1; \
	done

test: setup
	@.ci/test $(ARGS)

lint: setup
	$(BIN)/ruff check . $(ARGS)

bench: setup
	@if [ -z "$(BENCHES)" ]; then echo "no benchmarks/*.py"; exit 0; fi; \
	for b in $(BENCHES); do echo "== $$b"; $(BIN)/python "$$b" $(ARGS) || exit 1; done
