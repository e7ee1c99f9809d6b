"""tools/mirror/prebuild.py: which releases a list of Molecule scenarios needs, in the order they need them."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

# tools/ is not part of the collection: ansible-test's copy of the tree has no such module
prebuild = pytest.importorskip("prebuild", reason="tools/ is not in this copy of the collection")


def write_env(path: Path, env: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"ansible": {"env": env}}))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    write_env(tmp_path / ".config/molecule/config.yml", {"EKSD_TEST_RELEASE": "1-24-9", "EKSD_LAB_NODES": "2"})
    write_env(tmp_path / "molecule/default/molecule.yml", {})
    write_env(tmp_path / "molecule/upgrade_minor/molecule.yml",
              {"EKSD_TEST_RELEASE": "1-35-13", "EKSD_UPGRADE_RELEASE": "1-36-7"})
    write_env(tmp_path / "molecule/ha/molecule.yml", {"EKSD_TEST_RELEASE": "1-36-7"})
    return tmp_path


def test_a_scenario_without_its_own_release_uses_the_shared_one(repo):
    assert prebuild.scenario_releases("default", repo) == ["1-24-9"]


def test_an_upgrade_scenario_needs_both_releases_old_first(repo):
    assert prebuild.scenario_releases("upgrade_minor", repo) == ["1-35-13", "1-36-7"]


def test_releases_come_once_in_the_order_scenarios_ask(repo):
    assert prebuild.build_order(["default", "upgrade_minor", "ha"], repo) == ["1-24-9", "1-35-13", "1-36-7"]
    assert prebuild.build_order(["ha", "upgrade_minor"], repo) == ["1-36-7", "1-35-13"]


def test_an_unknown_scenario_is_named_with_the_known_ones(repo):
    with pytest.raises(SystemExit, match=r"no Molecule scenario 'nope' \(expected one of default, ha, upgrade_minor\)"):
        prebuild.scenario_releases("nope", repo)


def test_the_repository_scenarios_of_make_test_are_read():
    releases = prebuild.build_order(["default", "upgrade_minor", "ha"])
    assert releases[0] == "1-24-9" and "1-36-7" in releases


def test_conformance_builds_come_for_the_scenarios_that_run_the_tests_only(repo):
    write_env(repo / "molecule/ha/molecule.yml", {"EKSD_TEST_RELEASE": "1-36-7", "EKSD_TEST_CONFORMANCE": "sig-network"})
    write_env(repo / "molecule/current/molecule.yml", {"EKSD_TEST_RELEASE": "1-36-7", "EKSD_TEST_CONFORMANCE": "sig-node"})
    assert prebuild.conformance_releases(["default", "upgrade_minor", "ha", "current"], repo) == ["1-36-7"]
    assert prebuild.conformance_releases(["default", "upgrade_minor"], repo) == []


def test_make_test_builds_the_conformance_tests_of_the_ha_scenario():
    assert prebuild.conformance_releases(["default", "upgrade_minor", "ha"]) == \
        prebuild.scenario_releases("ha")[:1]
