# The two commands: `make demo` and `make test`. Each sets up everything it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_GET := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

# The embedded engine: llama.cpp compiled from llama-cpp-python's sdist for a CPU floor, not for
# the CPU at hand (the sdist's default, -march=native, crashes or dies of an illegal instruction
# on a machine unlike the one that built it). x86-64: AVX2 + FMA + F16C + BMI2 (x86-64-v3: Intel
# since Haswell, 2013; AMD since Excavator, 2015), without AVX-512 and AMX. arm64: plain ARMv8.
# The wheel is built once into papersift's cache, in a folder named after these flags, so a
# change of flags builds anew and pip's own wheel cache (keyed by the sdist alone) is never used.
LLAMA_CPP := $(shell grep -o 'llama-cpp-python==[0-9.]*' pyproject.toml)
ARCH := $(shell uname -m)
ifeq ($(ARCH),x86_64)
ENGINE_FLAGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
  -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
  -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
else
ENGINE_FLAGS := -DGGML_NATIVE=OFF
endif
CACHE := $(or $(PAPERSIFT_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/papersift)
ENGINE_TAG := $(shell printf '%s %s' '$(LLAMA_CPP)' '$(ENGINE_FLAGS)' | sha256sum | cut -c1-12)
WHEELS := $(CACHE)/wheels/$(ARCH)-$(ENGINE_TAG)

.PHONY: demo test setup engine apt-build apt-browser bench screenshots clean

# The compiler llama.cpp's sdist needs, and venv support on a bare Debian/Ubuntu.
apt-build:
	@command -v g++ >/dev/null && command -v cmake >/dev/null && command -v objdump >/dev/null && \
	  $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || \
	  ($(APT_GET) update -qq && $(APT_GET) install -y -qq g++ cmake binutils python3-venv python3-dev)

# Headless Chromium for the browser tests, and a font so Chinese is not drawn as boxes.
apt-browser:
	@command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi wqy && fc-list 2>/dev/null | grep -qi "noto color emoji" || \
	  ($(APT_GET) update -qq && $(APT_GET) install -y -qq chromium fonts-wqy-microhei fonts-noto-color-emoji)

$(BIN)/python: | apt-build
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# About 7-11 minutes on 2 cores, once per machine (or per change of flags).
$(WHEELS)/.built: | $(BIN)/python
	rm -rf $(WHEELS).tmp
	CMAKE_ARGS="$(ENGINE_FLAGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) \
	  $(BIN)/pip wheel -q --no-cache-dir --no-deps $(LLAMA_CPP) -w $(WHEELS).tmp
	rm -rf $(WHEELS) && mv $(WHEELS).tmp $(WHEELS) && touch $@

# Re-install when the project's dependencies or the engine's build change.
$(VENV)/.installed: pyproject.toml $(WHEELS)/.built
	$(BIN)/pip install -q --find-links $(WHEELS) --only-binary llama-cpp-python -e '.[embedded,dev,scale]'
	touch $@

setup: $(VENV)/.installed

# Build the embedded engine again (after a crash that `papersift doctor` traces to the build).
engine:
	rm -rf $(WHEELS) $(VENV)/.installed
	$(MAKE) setup
	$(BIN)/pip install -q --force-reinstall --no-deps --find-links $(WHEELS) --only-binary llama-cpp-python $(LLAMA_CPP)

demo: setup
	$(BIN)/papersift doctor --only llm
	$(BIN)/papersift demo

# ruff first (pyflakes, bugbear, imports; the formatter, line width 120: pyproject.toml), then pytest.
# pytest's exit code stands as it is: 5 (no test ran) fails too. In CI (CI=true) a skipped test
# fails (tests/conftest.py); -rs prints why each test skipped.
test: setup apt-browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider

bench: setup
	$(BIN)/python bench/ingest.py --write

# The README's screenshots: the bundled day, read by the scripted server, drawn at desktop and phone
# widths into docs/screenshots/. Run it again when a page changes.
screenshots: setup apt-browser
	$(BIN)/python tests/support/screenshots.py docs/screenshots

clean:
	rm -rf $(VENV) build *.egg-info
