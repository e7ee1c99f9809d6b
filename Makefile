# Entry points for people and for CI. Other tooling calls these target names: keep them.
#   make test                 lint, sanity, unit tests, then the offline-world and cluster tests
#   make lab [NODES=2] [HA=1] [RELEASE=1-24-9]   mirror + lab + site.yml; last line: admin kubeconfig
#   make mirror RELEASE=...   build or reuse the offline EKS-D mirror; last line: its root directory
#   make lab-up NODES=...     bring up the lab hosts, the mirror server and the registry
#   make lab-down             remove the lab (caches are kept)
#   make conformance-build RELEASE=...   e2e.test + ginkgo for the release's Kubernetes version (cached)
#   make conformance-images RELEASE=... [REGISTRY=host:port]   the tests' images (cached), pushed; last line: KUBE_TEST_REPO_LIST
#   make conformance [RELEASE=...] [FOCUS=regex] [SKIP=regex]   the [Conformance] tests on a lab cluster; non-zero on an unexplained failure
#   make cis                  kube-bench (CIS Kubernetes Benchmark) on every lab node; non-zero on a scored FAIL
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

RELEASE ?= 1-24-9
NODES ?=
HA ?=
EKSD_CACHE ?= $(HOME)/.cache/eksd
export EKSD_CACHE
PYTHON ?= python3
REQ_HASH := $(shell cat requirements.txt | sha256sum | cut -c1-12)
VENV ?= $(EKSD_CACHE)/venv-$(REQ_HASH)
BIN := $(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help venv lint sanity units test-unit test-offline test-faults-cluster test-molecule test-ha test-current test-lifecycle test-upgrade test-upgrade-minor test-maintenance test-mixed-os test-routed test-day2 test mirror lab-up lab-down lab bench bench-cluster bench-upgrade build cis conformance-build conformance-images conformance test-conformance

help:
	@sed -n '1,10p' Makefile

venv: $(BIN)/.installed
$(BIN)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.txt
	touch $@

lint: venv
	$(BIN)/ruff check plugins tests tools molecule
	$(BIN)/ansible-lint
	$(BIN)/python tools/check_argument_specs.py
	$(BIN)/antsibull-changelog lint

sanity: venv
	bash tools/ansible-test/run.sh

units: venv
	$(BIN)/pytest -q tests/unit

test-unit: lint sanity units

# The offline world: mirror for 1-24-9, lab hosts, registry (tests/integration), and the faults site.yml
# must refuse before changing a host. Tests that bring a whole cluster up (marked cluster) run in
# test-faults-cluster: a site.yml run killed midway, then run again to a Ready cluster (about 8 minutes).
test-offline: venv
	$(BIN)/pytest -q -m "not cluster" tests/integration

test-faults-cluster: venv
	$(BIN)/pytest -q -m cluster tests/integration

# The cluster scenarios on the lab (molecule/) in `make test`, three clusters for CI's 90 minutes: default (1+1,
# 1-24-9, the installed collection; the maintenance tests (certificates, etcd restore, key rotation) on the same
# cluster, then the shared tests on what they leave), upgrade_minor (1+1, site.yml 1-35-13 then upgrade.yml to 1-36-7) and ha (3+1, 1-36-7 with
# metrics-server, a control plane down while the API keeps answering, Kubernetes' sig-network [Conformance] tests).
# `make test-ha` runs ha alone, with the OIDC and check-mode tests.
# tools/mirror/prebuild.py builds the later scenarios' mirrors, then ha's conformance tests and images, in the
# background (nice 19) while the first runs;
# its log is $(EKSD_CACHE)/mirror-prebuild.log, and it is stopped with the scenarios.
MOLECULE_SCENARIOS ?= default upgrade_minor ha
test-molecule: venv
	mkdir -p "$(EKSD_CACHE)"
	setsid $(BIN)/python tools/mirror/prebuild.py $(MOLECULE_SCENARIOS) > "$(EKSD_CACHE)/mirror-prebuild.log" 2>&1 & prebuild=$$!; \
	trap 'kill -- -$$prebuild 2>/dev/null || true' EXIT; \
	for scenario in $(MOLECULE_SCENARIOS); do $(BIN)/molecule test -s $$scenario || exit 1; done

test-ha: venv
	EKSD_TEST_OIDC=true EKSD_TEST_CHECK_MODE=true $(BIN)/molecule test -s ha

# scale.yml, remove_node.yml and reset.yml on a 4-node lab (molecule/lifecycle).
test-lifecycle: venv
	$(BIN)/molecule test -s lifecycle

# Upgrades: upgrade (HA 3+1, 1-24-8 -> 1-24-9 under an API probe, refusals) and upgrade_minor
# (1+1, 1-35-13 -> 1-36-7).
test-upgrade: venv
	$(BIN)/molecule test -s upgrade

test-upgrade-minor: venv
	$(BIN)/molecule test -s upgrade_minor

# Certificate report and renewal, etcd restore, key rotation on a converged 1+1 cluster (molecule/maintenance;
# `default` runs the same tests in make test).
test-maintenance: venv
	$(BIN)/molecule test -s maintenance

# The newest release on 1+1 with metrics-server (molecule/current; in make test that release runs as ha).
test-current: venv
	$(BIN)/molecule test -s current

# Debian 12 and 13 in one cluster (1+1, 1-35-13): node1 bookworm, node2 trixie, containerd from each suite's packages.
test-mixed-os: venv
	$(BIN)/molecule test -s mixed_os

# Nodes on two podman networks routed through the host (EKSD_LAB_ROUTED=1), cni_provider flannel (VXLAN), 1-24-9:
# DNS from every node, pod-to-pod across the subnets, a Service, and preflight refusing the bridge provider
# (molecule/routed; builds flannel from its Go modules once).
test-routed: venv
	$(BIN)/molecule test -s routed

test: test-unit test-offline test-molecule

# Everything that needs more clusters than CI's 90 minutes hold beside `make test`: the day-2 scenarios,
# HA failover, the interrupted run, Debian 12+13 in one cluster and the routed pod network (hours on 2 cores;
# run before a release).
test-day2: test-faults-cluster test-upgrade test-lifecycle test-current test-ha test-mixed-os test-routed test-conformance

# The whole conformance suite on 1-24-9 and on the newest release, one lab each (see `conformance` below).
CONFORMANCE_RELEASES ?= 1-24-9 1-36-7
test-conformance: venv
	for release in $(CONFORMANCE_RELEASES); do $(MAKE) --no-print-directory conformance RELEASE=$$release || exit 1; done

bench: venv
	$(BIN)/python tools/bench_resolve.py

# Deploy figures on fresh labs (tools/bench_cluster.py): site.yml fresh and no-op per SHAPES (default,ha,wide: 1+1,
# HA 3+1, 1+5) and CONNECTIONS (ssh,podman), module runs per host, controller CPU, mirror bytes; with UPGRADE_FROM
# (e.g. 1-24-8) a patch upgrade of a fresh 1+1 to RELEASE too. Prints figures, asserts nothing; about an hour for all.
SHAPES ?=
CONNECTIONS ?=
UPGRADE_FROM ?=
bench-cluster: venv
	$(BIN)/python tools/bench_cluster.py $(if $(RELEASE),--release $(RELEASE)) $(if $(SHAPES),--shapes $(SHAPES)) \
	    $(if $(CONNECTIONS),--connections $(CONNECTIONS)) $(if $(UPGRADE_FROM),--upgrade-from $(UPGRADE_FROM))

# HA lab upgrade: wall time, drain time per node, failed API requests (prints figures).
bench-upgrade: venv
	$(BIN)/python tools/bench_upgrade.py

build: venv
	$(BIN)/ansible-galaxy collection build --force

mirror: venv
	$(BIN)/python tools/mirror/build_mirror.py $(RELEASE)

lab-up:
	bash tools/lab/lab-up.sh $(NODES)

lab-down:
	bash tools/lab/lab-down.sh

lab: venv
	bash tools/lab/lab.sh $(RELEASE)

# Kubernetes' conformance suite, built from k8s.io/kubernetes at the release's Kubernetes version like the
# mirror's binaries: $(EKSD_CACHE)/conformance/<k8s version>/{e2e.test,ginkgo,build.json}; last line: that directory
conformance-build: venv
	$(BIN)/python tools/conformance/build_e2e.py $(RELEASE)

# The images the [Conformance] tests use, built offline (tools/conformance/build_images.py) into
# $(EKSD_CACHE)/conformance/<k8s version>/images; with REGISTRY=host:port pushed there under the suite's names,
# last line: the KUBE_TEST_REPO_LIST file pointing e2e.test at that registry
REGISTRY ?=
conformance-images: venv
	$(BIN)/python tools/conformance/build_images.py $(RELEASE) $(if $(REGISTRY),--registry $(REGISTRY))

# Kubernetes' [Conformance] tests, offline, on a lab cluster (tools/conformance/run_conformance.py): reuses the lab
# when it runs the release's Kubernetes version (else lab.sh, NODES as for `make lab`), gives its containerd the lab
# registry (containerd_registries), builds and pushes the images, runs the tests in parallel (PROCS, default 3) then
# the [Serial] ones; tests/conformance/exclusions.yml lists what cannot pass here. Results: $(EKSD_CACHE)/conformance/
# results/<release>/<timestamp>/ (JUnit XML, summary.json, summary.txt). Non-zero on a failure the list does not explain.
FOCUS ?=
SKIP ?=
PROCS ?=
conformance: venv
	$(if $(NODES),NODES=$(NODES)) $(BIN)/python tools/conformance/run_conformance.py $(RELEASE) \
	    $(if $(FOCUS),--focus '$(FOCUS)') $(if $(SKIP),--skip '$(SKIP)') $(if $(PROCS),--procs $(PROCS))

# CIS Kubernetes Benchmark: kube-bench (built once per version into $(EKSD_CACHE)/kube-bench) on every node
# of the current lab; prints pass/fail/warn per node and exits non-zero on any scored FAIL
# (results in $(EKSD_CACHE)/cis/). WARNINGS=1 lists every WARN too.
cis: venv
	$(BIN)/python tools/cis/kube_bench.py $(if $(WARNINGS),--warnings)
