# The two commands:  make run   (workbench on the bundled demo)   and   make test.
# Both install everything first, idempotently, from this repository's own files.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
TRAC_VENV := .venv-trac
LLAMA_CPP_SHARE := $(VENV)/share/llama.cpp
DEMO ?= projects/demo
PORT ?= 8501
APT_PACKAGES := chromium bubblewrap sqlite3-doc fonts-dejavu-core git python3-pytest
# The desktop environment (lbi/envs/desktop/): X server, window manager, accessibility bus and its GObject
# bindings for Debian's python, LibreOffice Calc with its GTK frontend (which has the accessibility bridge) and
# offline help. Installed without Recommends, which would add GStreamer, Qt and Java that it never uses.
APT_DESKTOP_PACKAGES := xvfb openbox xdotool dbus at-spi2-core python3-gi gir1.2-atspi-2.0 gir1.2-gtk-3.0 \
  libreoffice-calc libreoffice-gtk3 libreoffice-help-en-us
# The coding demo's repository: semver's sdist from PyPI (tests and docs included), not vendored.
REPO_SDIST := data/demo/repo/sdist/semver-3.1.2.tar.gz
PYTEST_ARGS ?=
# pip's configured file:// indexes warn once per package; keep the log readable.
QUIET_PIP := 2>&1 | grep -v 'is ignored: it is neither a file nor a directory'; exit $${PIPESTATUS[0]}

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export LITELLM_LOCAL_MODEL_COST_MAP := True
export ANONYMIZED_TELEMETRY := False

.PHONY: setup apt llama-cpp-convert run test test-fast lint clean

setup: apt $(VENV)/.installed $(TRAC_VENV)/.installed llama-cpp-convert $(REPO_SDIST)

apt:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q $$missing; \
	fi
	@missing=$$(for p in $(APT_DESKTOP_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages (desktop environment): $$missing"; \
	  sudo=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q \
	    --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: requirements.txt requirements-nodeps.txt constraints.txt pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "installing Python packages into $(VENV) (first time on a machine: llama-cpp-python compiles, ~15 min)"
	$(BIN)/pip install -q --progress-bar off -c constraints.txt -r requirements.txt $(QUIET_PIP)
	$(BIN)/pip install -q --progress-bar off --no-deps -r requirements-nodeps.txt $(QUIET_PIP)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e . $(QUIET_PIP)
	@touch $@

$(TRAC_VENV)/.installed: requirements-trac.txt
	@test -x $(TRAC_VENV)/bin/python || $(PY) -m venv $(TRAC_VENV)
	$(TRAC_VENV)/bin/pip install -q --progress-bar off -r requirements-trac.txt $(QUIET_PIP)
	@touch $@

# llama.cpp's own Hugging Face → GGUF converter, for serving trained models (lbi/models/convert.py): the script,
# its `conversion` package and the gguf-py it was written with (PyPI's gguf is older than the script), taken
# from the sdist of the installed llama-cpp-python so it matches the bindings that quantize and serve.
# Skipped when the extracted version is the installed one.
llama-cpp-convert: $(VENV)/.installed
	@version=$$($(BIN)/python -c 'from importlib.metadata import version; print(version("llama-cpp-python"))'); \
	if [ "$$(cat $(LLAMA_CPP_SHARE)/VERSION 2>/dev/null)" != "$$version" ]; then \
	  echo "extracting llama.cpp's convert_hf_to_gguf.py from llama-cpp-python $$version into $(LLAMA_CPP_SHARE)"; \
	  tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(BIN)/pip download -q --progress-bar off --no-deps --no-binary :all: "llama-cpp-python==$$version" -d "$$tmp" \
	    2>&1 | grep -v 'is ignored: it is neither a file nor a directory'; \
	  src=llama_cpp_python-$$version/vendor/llama.cpp && \
	  tar xzf "$$tmp"/llama_cpp_python-$$version.tar.gz -C "$$tmp" \
	    $$src/convert_hf_to_gguf.py $$src/conversion $$src/gguf-py/gguf $$src/LICENSE && \
	  rm -rf $(LLAMA_CPP_SHARE) && mkdir -p $(VENV)/share && mv "$$tmp/$$src" $(LLAMA_CPP_SHARE) && \
	  echo "$$version" > $(LLAMA_CPP_SHARE)/VERSION; \
	fi

$(REPO_SDIST): | $(VENV)/.installed
	$(BIN)/pip download -q --no-deps --no-binary :all: -d $(dir $@) semver==3.1.2 $(QUIET_PIP)

run: setup
	$(BIN)/lbi init $(DEMO) --demo
	$(BIN)/lbi llm serve -p $(DEMO)
	$(BIN)/lbi synthesize -p $(DEMO) --background
	LBI_PROJECT=$(DEMO) $(BIN)/streamlit run app.py --server.headless true --server.address 127.0.0.1 \
	  --server.port $(PORT) --browser.gatherUsageStats false

test: setup
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The inner loop: every test that starts nothing heavy (no browser, Trac, desktop, sandbox, Ray, training or
# embedded model: the tiers of tests/tiers.py). CI runs `make test`, which runs them all.
FAST_TIERS := not (browser or trac or desktop or sandbox or ray or training or local_model)
test-fast: setup
	$(BIN)/python -m pytest -m "$(FAST_TIERS)" $(PYTEST_ARGS)

# Lint: ruff's rules, ruff's formatter (check only: `ruff format .` rewrites) and mypy on the paths that
# pyproject.toml's [tool.mypy] names (lbi, pages, app.py, tests, bench).
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) $(TRAC_VENV) .pytest_cache
