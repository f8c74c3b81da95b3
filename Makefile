# Pier: `make demo` and `make test` work on a fresh Debian 12 machine.
SHELL := /bin/bash
BUILD ?= build
JOBS ?= $(shell nproc)
PY := /usr/bin/python3

# Every Debian package the build, the tests, the demo and the benchmarks need.
APT_PACKAGES := cmake ninja-build g++ make ccache pkg-config \
  libonnx-dev libprotobuf-dev protobuf-compiler libdnnl-dev libhwy-dev libsleef-dev \
  libboost-dev libsimdjson-dev rapidjson-dev libcli11-dev libspdlog-dev libfmt-dev libsqlite3-dev \
  libgtest-dev libgmock-dev libbenchmark-dev libssl-dev sqlite3 zlib1g-dev \
  libonnx-testdata python3-onnx python3-numpy python3-torch python3-torchvision python3-sklearn python3-yaml \
  wrk skopeo umoci podman curl

# Node.js validates the Kubernetes manifests in the deploy tests against the
# Kubernetes schemas (tests/deploy/k8s/package.json; docs/deployment.md).
# Installed only when there is no npm at all: a Node.js from elsewhere may
# already provide it.
K8S_VALIDATE := tests/deploy/k8s

.PHONY: all deps build test demo conformance clean

all: build

deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends nodejs npm; }
	@if [ ! -f $(K8S_VALIDATE)/node_modules/.package-lock.json ] || \
	    [ $(K8S_VALIDATE)/package-lock.json -nt $(K8S_VALIDATE)/node_modules/.package-lock.json ]; then \
	  echo "npm ci in $(K8S_VALIDATE)"; cd $(K8S_VALIDATE) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error; \
	fi

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test: build
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

# Trains a small digit classifier on scikit-learn's digits data, exports it
# to ONNX, checks pier against torch, registers it in a workspace under
# .demo/ and serves it (Ctrl-C stops; DEMO_ARGS=--once stops after the
# sample requests).
demo: build
	$(PY) examples/digits/demo.py --pier $(BUILD)/pier --workdir .demo $(DEMO_ARGS)

conformance: build
	$(BUILD)/tests/pier_conformance --report $(BUILD)/conformance.json \
	  --expected tests/conformance/expected_pass.txt --skipped tests/conformance/skipped.txt -v

clean:
	rm -rf $(BUILD) .demo
