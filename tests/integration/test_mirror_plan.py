"""The mirror builder's plan works from an empty Go module cache, as on a fresh machine.

A manual substitution (tools/mirror/substitutions.yml) names a version without asking the proxy for it;
the builder must still download what that version needs before it reads its go.mod.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "mirror"))

import build_mirror  # noqa: E402


@pytest.fixture
def empty_module_cache(tmp_path, monkeypatch):
    cache = tmp_path / "gomodcache"
    monkeypatch.setenv("GOMODCACHE", str(cache))
    yield cache
    # The module cache is read-only by design; make it removable for tmp_path's clean-up.
    subprocess.run(["chmod", "-R", "u+w", str(cache)], check=False)


def test_a_manual_substitution_builds_its_go_mod_from_an_empty_module_cache(empty_module_cache, tmp_path):
    overrides = yaml.safe_load((REPO / "tools/mirror/substitutions.yml").read_text())
    release, components = next(iter(overrides.items()))
    plan = build_mirror.Plan(release)
    plan.named = {component: plan.named[component] for component in components}  # only what is substituted
    plan.resolve(build_mirror.ModuleProxy(tmp_path / "proxy"))
    for component, override in components.items():
        assert plan.versions[component] == override["version"]
        assert any(note.startswith(f"{component}: ") for note in plan.notes)
    version = plan.versions["kubernetes"]
    gomod = build_mirror.kube_gomod(version)
    assert re.search(r"^module k8s\.io/kubernetes$", gomod, re.M), gomod[:400]
    assert build_mirror.kube_staging(version), "no staging modules read from the downloaded go.mod"
    assert (empty_module_cache / "cache/download/k8s.io/kubernetes/@v" / f"{version}.mod").is_file()


def test_a_substitution_the_proxy_does_not_serve_is_refused_by_name(empty_module_cache, tmp_path, monkeypatch):
    plan = build_mirror.Plan("1-24-9")
    plan.named = {"coredns": plan.named["coredns"]}
    plan.overrides = {"coredns": {"version": "v0.0.0-not-a-release", "reason": "test"}}
    with pytest.raises(SystemExit, match=r"substitutions.yml names coredns v0.0.0-not-a-release"):
        plan.resolve(build_mirror.ModuleProxy(tmp_path / "proxy"))


def test_the_release_catalog_is_read_from_the_repository():
    assert build_mirror.CATALOG.is_file() and REPO in build_mirror.CATALOG.parents
    with pytest.raises(SystemExit, match=r"kubernetes-1-24-eks-999 is not in releases.json"):
        build_mirror.Plan("1-24-999")


