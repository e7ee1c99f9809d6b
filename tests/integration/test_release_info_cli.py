"""`ansible localhost -m eksd.distro.release_info` prints the contract for every real manifest, unchanged."""
from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml
from conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "eksd"
MANIFESTS = sorted((FIXTURES / "manifests").glob("kubernetes-*.yaml"))


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.stem)
def test_adhoc_release_info_prints_the_contract(manifest):
    env = dict(os.environ, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json")
    out = subprocess.run(["ansible", "localhost", "-m", "eksd.distro.release_info", "-a", f"manifest={manifest} arch=amd64"],
                         env=env, cwd=REPO, capture_output=True, text=True, check=True)
    # the stdout callback's JSON, between the lines a timing callback prints
    result = json.JSONDecoder().raw_decode(out.stdout[out.stdout.index("{"):])[0]["plays"][0]["tasks"][0]["hosts"]["localhost"]
    assert result["changed"] is False
    release = result["release"]
    doc = yaml.safe_load(manifest.read_text())
    assert release["name"] == doc["metadata"]["name"] == manifest.stem
    assert (release["channel"], release["number"]) == (doc["spec"]["channel"], doc["spec"]["number"])
    tags = {c["name"]: c["gitTag"] for c in doc["status"]["components"]}
    assert release["kubernetes_version"] == tags["kubernetes"]
    assert {name: c["version"] for name, c in release["components"].items()} == tags

    wanted = {a["name"]: (c["name"], a["archive"]) for c in doc["status"]["components"] for a in c["assets"]
              if a["type"] == "Archive" and a.get("os") == "linux" and "amd64" in a.get("arch", [])}
    assert set(release["artifacts"]) == set(wanted)
    for name, (component, archive) in wanted.items():
        got = release["artifacts"][name]
        assert got == {"url": archive["uri"], "sha256": archive["sha256"], "sha512": archive["sha512"], "component": component}

    images = {a["name"]: a["image"]["uri"] for c in doc["status"]["components"] for a in c["assets"]
              if a["type"] == "Image" and "amd64" in a.get("arch", [])}
    assert release["images"] == images
