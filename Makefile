# The two commands: `make demo` and `make test`. Each sets up everything it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_GET := DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get

.PHONY: demo test setup apt-build apt-browser bench clean

# The compiler llama.cpp's sdist needs, and venv support on a bare Debian/Ubuntu.
apt-build:
	@command -v g++ >/dev/null && $(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || \
	  ($(APT_GET) update -qq && $(APT_GET) install -y -qq g++ cmake python3-venv python3-dev)

# Headless Chromium for the browser tests, and a font so Chinese is not drawn as boxes.
apt-browser:
	@command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi wqy && fc-list 2>/dev/null | grep -qi "noto color emoji" || \
	  ($(APT_GET) update -qq && $(APT_GET) install -y -qq chromium fonts-wqy-microhei fonts-noto-color-emoji)

$(BIN)/python: | apt-build
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Re-install when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[embedded,dev,scale]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/papersift demo

test: setup apt-browser
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

bench: setup
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) build *.egg-info
