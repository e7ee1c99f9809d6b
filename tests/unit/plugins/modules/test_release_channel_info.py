"""plugins/modules/release_channel_info.py: named channels, listing with gaps, check mode, error mapping."""

from __future__ import annotations

import re

import pytest
from ansible_collections.eksd.distro.plugins.modules import release_channel_info
from ansible_collections.eksd.distro.tests.unit.plugins.modules.module_harness import run_main


def run_module(args: dict, check_mode: bool = False) -> dict:
    """Run release_channel_info.main() with ``args``; return its exit_json or fail_json arguments."""
    return run_main(release_channel_info.main, args, check_mode)


@pytest.fixture
def mirror(http_server, published_channel):
    """A mirror under /eksd holding channels 1-24 (latest 9), 1-35 (13) and 1-36 (7) only."""
    for channel, latest in {"1-24": 9, "1-35": 13, "1-36": 7}.items():
        http_server.serve(f"/eksd/releasechannels/{channel}.yaml", published_channel(channel, latest))
    return http_server.url("/eksd")


def test_named_channels(mirror):
    result = run_module({"channels": ["v1-36", "1.24", "kubernetes-1-36"], "artifact_mirror": mirror, "allow_http": True})
    assert result["changed"] is False
    assert result["base_url"] == mirror
    assert [c["channel"] for c in result["channels"]] == ["1-36", "1-24"]  # given order, once each
    latest = result["channels"][0]
    assert latest == {
        "channel": "1-36",
        "active": True,
        "latest_release": 7,
        "latest_release_name": "kubernetes-1-36-eks-7",
        "releases": [f"kubernetes-1-36-eks-{n}" for n in range(1, 8)],
        "manifest_url": mirror + "/kubernetes-1-36/kubernetes-1-36-eks-7.yaml",
        "channel_url": mirror + "/releasechannels/1-36.yaml",
    }


def test_listing_with_gaps(mirror, http_server):
    result = run_module({"base_url": mirror + "/", "allow_http": True})
    assert [(c["channel"], c["latest_release"]) for c in result["channels"]] == [("1-24", 9), ("1-35", 13), ("1-36", 7)]
    assert result["base_url"] == mirror
    assert len(http_server.hits) == 36 + 12 - 18 + 1


def test_listing_max_misses(mirror):
    """Misses count from 1-18 until a channel is found: 1-18 ... 1-23 are six."""
    result = run_module({"base_url": mirror, "allow_http": True, "max_misses": 7})
    assert [c["channel"] for c in result["channels"]] == ["1-24"]  # 1-25 ... 1-31 missing: seven in a row
    result = run_module({"base_url": mirror, "allow_http": True, "max_misses": 6})
    assert result["failed"] is True
    assert result["msg"].startswith("no release channel is published under ")


def test_check_mode_same_result(mirror):
    args = {"artifact_mirror": mirror, "allow_http": True}
    assert run_module(args, check_mode=True) == run_module(args)


def test_from_a_directory(tmp_path, published_channel):
    (tmp_path / "releasechannels").mkdir()
    (tmp_path / "releasechannels" / "1-24.yaml").write_text(published_channel("1-24", 9))
    result = run_module({"base_url": str(tmp_path)})
    assert [(c["channel"], c["latest_release_name"]) for c in result["channels"]] == [("1-24", "kubernetes-1-24-eks-9")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"channels": ["1-99"]}, r"^channel 1-99 is not published at http://127.0.0.1:\d+/eksd/releasechannels/1-99.yaml \(HTTP 404\)"),
        ({"channels": ["1-36-7"]}, r"^channel '1-36-7' is not an EKS-D release channel; expected <major>-<minor>"),
        ({"max_misses": 0, "base_url": "@other"}, r"^max_misses is 0; expected a whole number of 1 or more$"),
        ({"max_misses": 2, "base_url": "@other"}, r"^no release channel is published under \S+ \(channels 1-18 to 1-19 probed\)"),
        ({"allow_http": False}, r"^artifact_mirror http://\S+ uses plain http"),
        ({"allow_http": False, "artifact_mirror": "https://x", "base_url": "@mirror"}, r"^release channel URL http://\S+ uses plain http"),
        ({"max_misses": "many"}, r"max_misses.*int"),
    ],
)
def test_failures(mirror, http_server, args, message):
    args = dict({"artifact_mirror": mirror, "allow_http": True}, **args)
    if args.get("base_url") == "@other":
        args["base_url"] = http_server.url("/other")
    if args.get("base_url") == "@mirror":
        args["base_url"] = mirror
    result = run_module(args)
    assert result["failed"] is True
    assert "channels" not in result
    assert re.search(message, result["msg"]), result["msg"]
