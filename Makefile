# odinpaint: `make demo` sets everything up and runs the main job; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATA ?= data/photos64
PHOTO_PACKAGES := lomiri-wallpapers-16.04 mate-backgrounds plasma-workspace-wallpapers opencv-doc

.PHONY: demo test test-fast docs venv photos chromium clean default-model bench

venv: $(VENV)/.installed

# torch==2.13.0 first: on machines that have its CPU wheel locally this avoids a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0 || $(BIN)/pip install -q 'torch>=2.3'
	$(BIN)/pip install -q -e '.[test,docs]'
	touch $@

# The default photo set comes from Debian packages (docs/guides/data.md).
photos:
	@if [ ! -d /usr/share/doc/opencv-doc/examples/data ] || [ ! -d /usr/share/backgrounds/mate ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PHOTO_PACKAGES); \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PHOTO_PACKAGES); fi; \
	fi

$(DATA)/manifest.json: | venv photos
	$(BIN)/odinpaint data prepare photos --size 64 --out $(DATA)

# The main job: the report's whole study on 2 CPU cores (28.7 minutes from a fresh clone, idle machine), then where the report is.
demo: venv photos $(DATA)/manifest.json
	$(BIN)/odinpaint experiment --preset quick --data $(DATA) --out experiments/quick
	@echo "open experiments/quick/report/index.html (also report.md and results.json beside it)"

# The shipped model, src/odinpaint/weights/default.safetensors (see its MODEL_CARD.md): the
# improved context encoder (biharmonic start, learned correction, full-resolution head,
# level-PSNR loss, 8-view test-time averaging), trained on random-resized crops of the
# training photos (every scale from pixel detail to the whole photo, which is what a large
# hole's window shows it), then scored on 64 px patches and on whole test photos.
# Resumable: run it again after an interruption and it continues.
SHIP_DATA := data/photos64-crops
SHIP_RUN := runs/default-model/000-default
SHIP_IMAGES := 1000000

$(SHIP_DATA)/manifest.json: | venv photos
	$(BIN)/odinpaint data prepare photos --size 64 --train-crops 1000 --out $(SHIP_DATA)

default-model: venv photos $(SHIP_DATA)/manifest.json
	@if [ -f $(SHIP_RUN)/config.json ]; then $(BIN)/odinpaint train --resume $(SHIP_RUN); else \
	  $(BIN)/odinpaint train --recipe improved-ce --data $(SHIP_DATA) --out runs/default-model --name default \
	    --max-images $(SHIP_IMAGES) --channel-shuffle; fi
	$(BIN)/odinpaint export $(SHIP_RUN)/checkpoints/best.safetensors --weights src/odinpaint/weights/default.safetensors
	$(BIN)/odinpaint eval src/odinpaint/weights/default.safetensors --data $(SHIP_DATA) --out runs/default-model/eval
	$(BIN)/odinpaint eval-photos --data $(SHIP_DATA) --masks-per-photo 4 --out runs/default-model/photo-eval

# Speed against this machine's matmul peak (docs/results/performance.md).
bench: venv
	$(BIN)/odinpaint bench --json bench.json

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser).
chromium:
	@if ! command -v chromium >/dev/null 2>&1 && [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; fi; \
	fi

# Every test, the browser ones included: with ODINPAINT_REQUIRE_BROWSER=1 a missing Chromium or
# Playwright fails them instead of skipping them.
test: venv chromium
	ODINPAINT_REQUIRE_BROWSER=1 $(BIN)/python -m pytest -q

# The tests without a browser, other processes or fuzzing (markers browser, multiprocess, fuzz):
# at most 90 s on 2 idle cores (62-80 s measured).
test-fast: venv
	$(BIN)/python -m pytest -q -m "not slow and not browser and not multiprocess and not fuzz"

# The docs site (docs/, mkdocs.yml), built offline into site/; --strict fails on a broken link
# or a page left out of the navigation. The CLI reference is generated from the parsers.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) data runs experiments site
