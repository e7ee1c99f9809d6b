"""tools/mirror/build_flannel.py: versions read from, digests recorded into roles/preflight/vars/flannel_release.yml
(a copy; the result still loads as preflight's vars), and flanneld's main.go without the backend not served here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

# tools/ is not part of the collection: ansible-test's copy of the tree has no such module
build_flannel = pytest.importorskip("build_flannel", reason="tools/ is not in this copy of the collection")

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / "roles" / "preflight" / "vars" / "flannel_release.yml"


def load(text: str) -> dict:
    return yaml.safe_load(text)["_preflight_flannel_release"]


def test_versions_come_from_the_data_file():
    data = load(DATA.read_text(encoding="utf-8"))
    assert build_flannel.release_versions() == {"flannel": data["flannel"], "cni_plugin": data["cni_plugin"]}


def test_record_writes_the_digests_and_keeps_the_others():
    text = DATA.read_text(encoding="utf-8")
    once = build_flannel.record_text(text, {"flannel-arm64": "b" * 128}, {"arm64": "sha256:" + "b" * 64})
    twice = build_flannel.record_text(once, {"flannel-amd64": "a" * 128}, {"amd64": "sha256:" + "a" * 64})
    data, before = load(twice), load(text)
    assert data["plugin_sha512"]["flannel-amd64"] == "a" * 128 and data["plugin_sha512"]["flannel-arm64"] == "b" * 128
    assert data["image_digest"] == {**before["image_digest"], "amd64": "sha256:" + "a" * 64, "arm64": "sha256:" + "b" * 64}
    assert {k: v for k, v in data.items() if k not in ("plugin_sha512", "image_digest")} == \
        {k: v for k, v in before.items() if k not in ("plugin_sha512", "image_digest")}
    assert twice.startswith(text.split("_preflight_flannel_release:")[0])
    # recording the same digests again changes nothing
    assert build_flannel.record_text(twice, {"flannel-amd64": "a" * 128}, {"amd64": "sha256:" + "a" * 64}) == twice


def test_record_starts_from_empty_maps():
    text = "---\n_preflight_flannel_release:\n  flannel: \"1.0.0\"\n  cni_plugin: \"0.9.1\"\n  plugin_sha512: {}\n  image_digest: {}\n"
    data = load(build_flannel.record_text(text, {"flannel-amd64": "c" * 128}, {"amd64": "sha256:" + "c" * 64}))
    assert data == {"flannel": "1.0.0", "cni_plugin": "0.9.1", "plugin_sha512": {"flannel-amd64": "c" * 128},
                    "image_digest": {"amd64": "sha256:" + "c" * 64}}


def test_flanneld_main_leaves_out_only_the_tencent_and_udp_backends():
    upstream = ('import (\n\t_ "github.com/flannel-io/flannel/pkg/backend/hostgw"\n'
                '\t_ "github.com/flannel-io/flannel/pkg/backend/tencentvpc"\n'
                '\t_ "github.com/flannel-io/flannel/pkg/backend/udp"\n'
                '\t_ "github.com/flannel-io/flannel/pkg/backend/vxlan"\n)\n')
    main = build_flannel.flanneld_main(upstream)
    assert "tencentvpc" not in main and "backend/udp" not in main
    assert "backend/vxlan" in main and "backend/hostgw" in main
    with pytest.raises(SystemExit):
        build_flannel.flanneld_main(main)
