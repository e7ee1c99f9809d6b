"""tools/conformance/run_conformance.py: choosing the tests, reading ginkgo's JUnit files, gating on the exclusions."""
from __future__ import annotations

import re

import pytest
import yaml

run_conformance = pytest.importorskip("run_conformance", reason="tools/ is not in this copy of the collection")

SERIAL = "[sig-scheduling] SchedulerPredicates [Serial] validates resource limits of pods that are allowed to run [Conformance]"
ENDPOINT = "[sig-network] Services should serve a basic endpoint from pods [Conformance]"
DNS = "[sig-network] DNS should provide DNS for services [Conformance]"
LOGS = "[sig-node] Kubelet when scheduling a busybox command in a pod should print the output to logs [NodeConformance] [Conformance]"

# as ginkgo v1 (1.24) writes it: every spec of the suite, those not run skipped
JUNIT_V1 = f"""<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="Kubernetes e2e suite" tests="4" failures="1" errors="0" time="100.5">
  <testcase name="{ENDPOINT}" classname="Kubernetes e2e suite" time="30.2"></testcase>
  <testcase name="{DNS}" classname="Kubernetes e2e suite" time="60.1">
    <failure type="Failure">dns.go:1 Unable to read jessie_udp@dns-test-service from pod</failure>
  </testcase>
  <testcase name="{LOGS}" classname="Kubernetes e2e suite" time="0"><skipped></skipped></testcase>
  <testcase name="[sig-storage] CSI mock volume should work" classname="Kubernetes e2e suite" time="0"><skipped></skipped></testcase>
</testsuite>"""

# ginkgo v2 (1.25+): the leaf node type in front, a message attribute
JUNIT_V2 = f"""<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="2" failures="0"><testsuite name="Kubernetes e2e suite" tests="2">
  <testcase name="[It] {LOGS}" classname="Kubernetes e2e suite" status="passed" time="5.0"></testcase>
  <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="1"></testcase>
</testsuite></testsuites>"""


def test_norm_and_minor():
    assert run_conformance.norm("a  b\n   c ") == "a b c"
    assert run_conformance.minor("v1.24.7") == "1.24"
    with pytest.raises(ValueError):
        run_conformance.minor("latest")


def test_names_regex_matches_each_name_literally_and_is_valid_re2_syntax():
    regex = run_conformance.names_regex([ENDPOINT, SERIAL])
    assert r"\[sig-network\]\s+Services" in regex
    assert "\\ " not in regex  # Go's regexp refuses an escaped space
    assert re.search(regex, "[Top Level] " + ENDPOINT)
    assert re.search(regex, SERIAL.replace(" [Conformance]", "  [Conformance]"))
    assert not re.search(regex, DNS)


def test_exclusions_by_version_and_refusals():
    doc = yaml.safe_load(f"""
exclusions:
  - test: "{DNS}"
    reason: the lab's kernel lacks something
  - test: "{ENDPOINT}"
    versions: ["1.36"]
    reason: only on 1.36
""")
    assert run_conformance.load_exclusions(doc, "v1.24.7") == {DNS: "the lab's kernel lacks something"}
    assert set(run_conformance.load_exclusions(doc, "v1.36.2")) == {DNS, ENDPOINT}
    assert run_conformance.load_exclusions({"exclusions": []}, "v1.24.7") == {}
    with pytest.raises(ValueError, match="exclusions\\[0\\]"):
        run_conformance.load_exclusions({"exclusions": [{"test": DNS}]}, "v1.24.7")


def test_select_focus_skip_serial_and_exclusions():
    tests = [ENDPOINT, DNS, LOGS, SERIAL.replace(" validates", "\n  validates")]
    parallel, serial, left = run_conformance.select(tests, r"\[sig-network\]|\[sig-scheduling\]", None, {DNS: "r"}, False)
    assert parallel == [ENDPOINT] and serial == [SERIAL] and left == [DNS]
    parallel, serial, left = run_conformance.select(tests, None, "Kubelet", {DNS: "r"}, True)
    assert parallel == [DNS, ENDPOINT] and serial == [SERIAL] and left == []


def test_parse_junit_v1_and_v2():
    res = run_conformance.parse_junit(JUNIT_V1)
    assert res[ENDPOINT]["status"] == "passed" and res[ENDPOINT]["seconds"] == 30.2
    assert res[DNS]["status"] == "failed" and "jessie_udp" in res[DNS]["message"]
    assert res[LOGS]["status"] == "skipped"
    v2 = run_conformance.parse_junit(JUNIT_V2)
    assert v2[LOGS]["status"] == "passed"


def test_merge_keeps_the_node_that_ran_the_test():
    node1 = run_conformance.parse_junit(JUNIT_V1)
    node2 = run_conformance.parse_junit(JUNIT_V2)
    merged = run_conformance.merge_results(node1, node2)
    assert merged[LOGS]["status"] == "passed" and merged[DNS]["status"] == "failed"


def test_gate_unexplained_failure_fails_listed_one_does_not():
    results = run_conformance.merge_results(run_conformance.parse_junit(JUNIT_V1), run_conformance.parse_junit(JUNIT_V2))
    wanted = [ENDPOINT, DNS, LOGS]
    bad = run_conformance.gate(results, wanted, {})
    assert not bad["ok"] and bad["unexplained_failures"] == [DNS]
    assert (bad["run"], bad["passed"], bad["failed"], bad["skipped"]) == (3, 2, 1, 0)
    good = run_conformance.gate(results, wanted, {DNS: "reason"})
    assert good["ok"] and good["expected_failures"] == [DNS] and good["failed"] == 1


def test_gate_a_wanted_test_without_result_fails_and_an_excluded_pass_is_reported():
    results = {ENDPOINT: {"status": "passed", "seconds": 1, "message": ""}}
    verdict = run_conformance.gate(results, [ENDPOINT, SERIAL], {ENDPOINT: "r"})
    assert not verdict["ok"] and verdict["not_run"] == [SERIAL] and verdict["run"] == 1
    assert verdict["excluded_but_passed"] == [ENDPOINT]


def test_ginkgo_command_v1_and_v2(tmp_path):
    v1 = run_conformance.ginkgo_command(tmp_path / "ginkgo", tmp_path / "e2e.test", False, "X", 3, ["--a"])
    assert v1[1:6] == ["-noColor", "-focus", "X", "-timeout", "24h"] and "-nodes=3" in v1 and v1[-2:] == ["--", "--a"]
    v2 = run_conformance.ginkgo_command(tmp_path / "ginkgo", tmp_path / "e2e.test", True, "X", 1, [])
    assert "--focus" in v2 and "-p" not in v2


def test_the_repository_exclusions_file_loads():
    path = run_conformance.EXCLUSIONS
    for version in ("v1.24.7", "v1.36.2"):
        for name, reason in run_conformance.load_exclusions(yaml.safe_load(path.read_text()), version).items():
            assert "[Conformance]" in name and len(reason) > 20
