"""Release channels from the built mirror, served over HTTP on 127.0.0.1 by this test (no lab needed).

`ansible localhost -m eksd.distro.release_channel_info` lists what the mirror publishes, and
`-m eksd.distro.release_info -a release=1-24` resolves channel 1-24 to the newest 1-24 release the mirror holds.
The mirror builder's releasechannels/<channel>.yaml is checked on its own too, on a throwaway mirror tree.
"""
from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools" / "mirror"))

import build_mirror  # noqa: E402


def newest_release(mirror_root: Path, channel: str) -> int:
    """The newest release of a channel in the mirror, read from the tree: a manifest and its build stamp."""
    numbers = [int(p.stem.rsplit("-", 1)[1]) for p in (mirror_root / f"kubernetes-{channel}").glob(f"kubernetes-{channel}-eks-*.yaml")
               if (mirror_root / ".stamps" / f"{p.stem}.json").is_file()]
    assert numbers, f"the mirror {mirror_root} holds no release of {channel}"
    return max(numbers)


@pytest.fixture(scope="module")
def served_mirror(mirror_root: Path):
    """The mirror over plain HTTP on 127.0.0.1 (an ephemeral port), as the lab's mirror server serves it."""
    handler = functools.partial(QuietHandler, directory=str(mirror_root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        return


def adhoc(module: str, args: str, check: bool = True) -> dict:
    """Run `ansible localhost -m MODULE -a ARGS`; return the host's result from the json callback."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="json", no_proxy="127.0.0.1,localhost")
    out = subprocess.run(["ansible", "localhost", "-m", module, "-a", args], env=env, cwd=REPO, capture_output=True,
                         text=True, check=False, timeout=300)
    if check:
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    else:
        assert out.returncode != 0, out.stdout[-3000:]
    return json.JSONDecoder().raw_decode(out.stdout[out.stdout.index("{"):])[0]["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_the_mirror_publishes_its_channels(mirror_root):
    """Published form: no comment lines, latestRelease = the newest release of the channel in the mirror."""
    files = sorted((mirror_root / "releasechannels").glob("*.yaml"))
    assert files, "the mirror publishes no releasechannels/<channel>.yaml"
    for path in files:
        text = path.read_text()
        assert not [line for line in text.splitlines() if line.startswith("#")], path
        doc = yaml.safe_load(text)
        assert (doc["apiVersion"], doc["kind"], doc["metadata"]["name"]) == (
            "distro.eks.amazonaws.com/v1alpha1", "ReleaseChannel", path.stem)
        assert doc["status"] == {"active": True, "latestRelease": newest_release(mirror_root, path.stem)}, path


def test_release_channel_info_lists_the_mirror(mirror_root, served_mirror):
    result = adhoc("eksd.distro.release_channel_info", f"artifact_mirror={served_mirror} allow_http=true")
    assert result["changed"] is False
    published = sorted((p.stem for p in (mirror_root / "releasechannels").glob("*.yaml")), key=build_mirror.channel_key)
    assert [c["channel"] for c in result["channels"]] == published
    latest = newest_release(mirror_root, "1-24")
    entry = next(c for c in result["channels"] if c["channel"] == "1-24")
    assert entry["latest_release"] == latest
    assert entry["latest_release_name"] == f"kubernetes-1-24-eks-{latest}"
    assert entry["releases"] == [f"kubernetes-1-24-eks-{n}" for n in range(1, latest + 1)]
    assert entry["manifest_url"] == f"{served_mirror}/kubernetes-1-24/kubernetes-1-24-eks-{latest}.yaml"

    named = adhoc("eksd.distro.release_channel_info", f"channels=v1-24 base_url={served_mirror} allow_http=true")
    assert named["channels"] == [entry]


def test_release_info_resolves_a_channel_to_its_newest_release(mirror_root, served_mirror):
    latest = newest_release(mirror_root, "1-24")
    result = adhoc("eksd.distro.release_info", f"release=1-24 artifact_mirror={served_mirror} allow_http=true")
    release = result["release"]
    assert (release["name"], release["requested"], release["latest_of_channel"]) == (f"kubernetes-1-24-eks-{latest}", "1-24", "1-24")
    manifest = mirror_root / "kubernetes-1-24" / f"kubernetes-1-24-eks-{latest}.yaml"
    doc = yaml.safe_load(manifest.read_text())
    assert release["kubernetes_version"] == next(c["gitTag"] for c in doc["status"]["components"] if c["name"] == "kubernetes")
    assert release["manifest_url"] == f"{served_mirror}/kubernetes-1-24/{manifest.name}"
    kubelet = release["artifacts"]["bin/linux/amd64/kubelet"]
    assert kubelet["url"].startswith(f"{served_mirror}/kubernetes-1-24/releases/{latest}/artifacts/")

    pinned = adhoc("eksd.distro.release_info", f"release=1-24-{latest} artifact_mirror={served_mirror} allow_http=true")["release"]
    assert (pinned["requested"], pinned["latest_of_channel"]) == (f"1-24-{latest}", None)
    assert {k: v for k, v in pinned.items() if k not in ("requested", "latest_of_channel")} == {
        k: v for k, v in release.items() if k not in ("requested", "latest_of_channel")}


def test_a_channel_the_mirror_does_not_hold_is_refused(served_mirror):
    result = adhoc("eksd.distro.release_info", f"release=1-99 artifact_mirror={served_mirror} allow_http=true", check=False)
    assert result["msg"].startswith(f"channel 1-99 is not published at {served_mirror}/releasechannels/1-99.yaml (HTTP 404)"), result


def test_the_builder_recomputes_latest_release(tmp_path):
    """publish_channel on a throwaway tree: the newest release with a manifest and a stamp; none left, no file."""
    root = tmp_path / "mirror"
    (root / ".stamps").mkdir(parents=True)
    (root / "kubernetes-1-24").mkdir()

    def release(number: int, stamped: bool = True) -> None:
        (root / "kubernetes-1-24" / f"kubernetes-1-24-eks-{number}.yaml").write_text("kind: Release\n")
        if stamped:
            (root / ".stamps" / f"kubernetes-1-24-eks-{number}.json").write_text("{}")

    channel = root / "releasechannels" / "1-24.yaml"
    release(3)
    release(9)
    release(11, stamped=False)  # being laid out: not in the mirror yet
    build_mirror.publish_channel(root, "1-24")
    doc = yaml.safe_load(channel.read_text())
    assert doc["status"] == {"active": True, "latestRelease": 9}
    assert doc["metadata"]["name"] == "1-24"
    (root / ".stamps" / "kubernetes-1-24-eks-11.json").write_text("{}")
    build_mirror.publish_channel(root, "1-24")
    assert yaml.safe_load(channel.read_text())["status"]["latestRelease"] == 11
    for stamp in (root / ".stamps").iterdir():
        stamp.unlink()
    build_mirror.publish_channel(root, "1-24")
    assert not channel.exists()
    assert not list((root / "releasechannels").glob(".*"))  # no temporary file left


def _preflight_tasks(*names: str) -> list:
    plays = yaml.safe_load((REPO / "playbooks" / "preflight.yml").read_text())
    tasks = {task["name"]: task for play in plays for task in play.get("tasks", [])}
    return [{k: v for k, v in tasks[name].items() if k != "run_once"} for name in names]


@pytest.mark.parametrize(
    ("results", "latest_of_channel", "expected", "ok"),
    [
        ([("amd64", "kubernetes-1-36-eks-7"), ("arm64", "kubernetes-1-36-eks-7")], "1-36",
         "kubernetes-1-36-eks-7 (latest of channel 1-36): Kubernetes v1.36.2", True),
        ([("amd64", "kubernetes-1-24-eks-9")], None, "kubernetes-1-24-eks-9: Kubernetes v1.36.2", True),
        ([("amd64", "kubernetes-1-36-eks-7"), ("arm64", "kubernetes-1-36-eks-8")], "1-36",
         "eksd_release=1-36 resolved to different releases for different architectures "
         "(amd64: kubernetes-1-36-eks-7, arm64: kubernetes-1-36-eks-8)", False),
    ],
)
def test_preflight_shows_the_channel_and_refuses_mixed_releases(tmp_path, results, latest_of_channel, expected, ok):
    """preflight.yml's own tasks, on resolved releases: the message names the channel; two releases are refused."""
    first = results[0][1]
    play = [{"name": "preflight tasks", "hosts": "localhost", "gather_facts": False, "vars": {
        "eksd_release": "1-36",
        "__eksd_release": {"results": [{"item": arch, "release": {"name": name}} for arch, name in results]},
        "eksd_release_info": {"name": first, "latest_of_channel": latest_of_channel, "kubernetes_version": "v1.36.2",
                              "components": {"etcd": {"version": "v3.6.11"}}, "arch": "amd64", "manifest_url": "u"}},
        "tasks": _preflight_tasks("Check that every architecture resolved the same release", "Show the release")}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play))
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACKS_ENABLED="")
    out = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(playbook)], env=env, cwd=REPO,
                         capture_output=True, text=True, check=False, timeout=300)
    assert (out.returncode == 0) is ok, out.stdout[-3000:]
    assert expected in " ".join(out.stdout.split()), out.stdout[-3000:]
