"""Release channels: channel ids, ReleaseChannel documents, reading them, a channel as the release option, probing."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible_collections.eksd.distro.plugins.module_utils._fetch import (
    NotPublished,
    load_release_channel,
    probe_release_channels,
    resolve_release,
)
from ansible_collections.eksd.distro.plugins.module_utils._manifest import (
    ManifestError,
    ReleaseId,
    channel_facts,
    channel_url,
    parse_channel_document,
    parse_channel_id,
    parse_release_channel,
    parse_release_request,
)

R120 = "kubernetes-1-20-eks-1"
CHANNELS = Path(__file__).resolve().parents[3] / "fixtures" / "eksd" / "releasechannels"


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("text", "channel"),
    [("1-36", "1-36"), ("v1-36", "1-36"), ("kubernetes-1-36", "1-36"), ("1.36", "1-36"), (" 1-9 ", "1-9"), ("1-0", "1-0")],
)
def test_parse_channel_id(text, channel):
    assert parse_channel_id(text) == channel


@pytest.mark.parametrize("text", ["1-36-7", "1", "1-036", "01-36", "v1.36.2", "kubernetes-1-36-eks", "latest", "", None, 136])
def test_parse_channel_id_errors(text):
    with pytest.raises(ManifestError, match=r"is not an EKS-D release channel; expected <major>-<minor> such as 1-36, v1-36"):
        parse_channel_id(text)


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("1-24-9", ReleaseId("1-24", 9)),
        ("v1-24-eks-9", ReleaseId("1-24", 9)),
        ("kubernetes-1-24-eks-9", ReleaseId("1-24", 9)),
        ("1.24-9", ReleaseId("1-24", 9)),
        ("1-36", "1-36"),
        ("v1-36", "1-36"),
        ("kubernetes-1-36", "1-36"),
        ("1.36", "1-36"),
    ],
)
def test_parse_release_request(text, wanted):
    assert parse_release_request(text) == wanted


@pytest.mark.parametrize("text", ["latest", "1-36-", "1.36.2", "kubernetes-1-36-eks", "1", None])
def test_parse_release_request_errors(text):
    with pytest.raises(ManifestError, match=r"is not an EKS-D release id or channel; expected a release such as 1-24-9"):
        parse_release_request(text)


def test_channel_url():
    assert channel_url("1-36") == "https://distro.eks.amazonaws.com/releasechannels/1-36.yaml"
    assert channel_url("1-24", "http://10.0.0.1:8080/eksd/") == "http://10.0.0.1:8080/eksd/releasechannels/1-24.yaml"


# --------------------------------------------------------------------------- documents


def test_every_fixture_channel(channel_file):
    """The repository copies (licence header, placeholder latestRelease 1) parse as they are."""
    path = CHANNELS / channel_file
    found = parse_release_channel(path.read_bytes(), str(path))
    want = "1-18" if channel_file == "releasechannel_example.yaml" else path.stem
    assert (found.name, found.active, found.latest_release, found.source) == (want, True, 1, str(path))
    assert parse_release_channel(path.read_text(), str(path), channel=want) == found


@pytest.mark.parametrize("channel", sorted(p.stem for p in CHANNELS.glob("1-*.yaml")))
def test_every_fixture_channel_published(published_channel, channel):
    """The published form: no comment lines, latestRelease set to the newest release."""
    text = published_channel(channel, 13)
    assert not any(line.startswith("#") for line in text.splitlines())
    found = parse_release_channel(text, "u", channel=channel)
    assert (found.name, found.latest_release, found.active) == (channel, 13, True)
    assert found.latest == ReleaseId(channel, 13)
    assert found.release_names() == [f"kubernetes-{channel}-eks-{n}" for n in range(1, 14)]
    facts = channel_facts(found, "http://m/eksd")
    assert facts == {
        "channel": channel,
        "active": True,
        "latest_release": 13,
        "latest_release_name": f"kubernetes-{channel}-eks-13",
        "releases": found.release_names(),
        "manifest_url": f"http://m/eksd/kubernetes-{channel}/kubernetes-{channel}-eks-13.yaml",
        "channel_url": "u",
    }


def _doc(published_channel, **changes) -> dict:
    doc = yaml.safe_load(published_channel("1-36", 7))
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = doc
        for key in parents:
            node = node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return doc


U = "https://m/releasechannels/1-36.yaml"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"kind": "Release"},
            r"^release channel https://m/releasechannels/1-36.yaml has apiVersion 'distro.eks.amazonaws.com/v1alpha1', "
            r"kind 'Release'; expected apiVersion distro.eks.amazonaws.com/v1alpha1, kind ReleaseChannel$",
        ),
        ({"apiVersion": "distro.eks.amazonaws.com/v1"}, r"has apiVersion 'distro.eks.amazonaws.com/v1', kind 'ReleaseChannel'; expected"),
        (
            {"status__latestRelease": KeyError},
            r"^release channel https://m/releasechannels/1-36.yaml: status.latestRelease is missing; "
            r"expected the channel's newest release number \(1 or more\)$",
        ),
        (
            {"status__latestRelease": 0},
            r"^release channel \S+: status.latestRelease is 0 \(int\); expected the channel's newest release number, "
            r"an integer of 1 or more$",
        ),
        ({"status__latestRelease": -3}, r"status.latestRelease is -3 \(int\); expected"),
        ({"status__latestRelease": "7"}, r"status.latestRelease is '7' \(str\); expected the channel's newest release number"),
        ({"status__latestRelease": True}, r"status.latestRelease is True \(bool\); expected"),
        ({"status__latestRelease": 7.0}, r"status.latestRelease is 7.0 \(float\); expected"),
        ({"metadata__name": "1-35"}, r"^release channel \S+: metadata.name is '1-35'; expected the requested channel 1-36$"),
        ({"metadata__name": "kubernetes-1-36"}, r"metadata.name is 'kubernetes-1-36'; expected the channel id 1-36$"),
        ({"metadata__name": 136}, r"metadata.name is 136; expected the channel id 1-36$"),
        ({"metadata": "1-36"}, r"metadata is '1-36'; expected a mapping with name 1-36$"),
        ({"status__active": "yes"}, r"status.active is 'yes'; expected true or false$"),
        ({"status__active": KeyError}, r"status.active is None; expected true or false$"),
        ({"status": KeyError}, r"status is None; expected a mapping with active and latestRelease$"),
    ],
)
def test_bad_channel_documents(published_channel, changes, message):
    doc = _doc(published_channel, **changes)
    with pytest.raises(ManifestError, match=message):
        parse_channel_document(doc, U, channel="1-36")
    with pytest.raises(ManifestError, match=message):
        parse_release_channel(yaml.safe_dump(doc), U, channel="1-36")


def test_inactive_channel(published_channel):
    assert parse_channel_document(_doc(published_channel, status__active=False), U).active is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^release channel u is empty; expected a ReleaseChannel document \(apiVersion"),
        ("- 1\n", r"^release channel u is not a mapping \(got list\); expected a ReleaseChannel document"),
        ("kind: [\n", r"^release channel u is not valid YAML \(.*\); expected one ReleaseChannel document$"),
        (b"\xff\xfe", r"^release channel u is not UTF-8 text"),
    ],
)
def test_unreadable_channel_documents(text, message):
    with pytest.raises(ManifestError, match=message):
        parse_release_channel(text, "u")


def test_name_without_requested_channel(published_channel):
    with pytest.raises(ManifestError, match=r"metadata.name is 'kubernetes-1-36'; expected the channel id <major>-<minor>$"):
        parse_channel_document(_doc(published_channel, metadata__name="kubernetes-1-36"), U)


# --------------------------------------------------------------------------- reading


def test_load_over_http(http_server, published_channel):
    http_server.serve("/eksd/releasechannels/1-36.yaml", published_channel("1-36", 7))
    base = http_server.url("/eksd")
    found = load_release_channel("v1-36", base, allow_http=True)
    assert (found.name, found.latest_release, found.source) == ("1-36", 7, base + "/releasechannels/1-36.yaml")


def test_load_needs_allow_http(http_server, published_channel):
    http_server.serve("/releasechannels/1-36.yaml", published_channel("1-36", 7))
    with pytest.raises(ManifestError, match=r"^release channel URL http://127.0.0.1:\d+/releasechannels/1-36.yaml uses plain http"):
        load_release_channel("1-36", http_server.base)
    assert http_server.hits == []


def test_load_404(http_server):
    with pytest.raises(
        NotPublished,
        match=r"^channel 1-99 is not published at http://127.0.0.1:\d+/releasechannels/1-99.yaml \(HTTP 404\); "
        r"expected a ReleaseChannel document \(apiVersion distro.eks.amazonaws.com/v1alpha1, kind ReleaseChannel, "
        r"metadata.name 1-99\) there: check the channel, base_url and artifact_mirror$",
    ):
        load_release_channel("1-99", http_server.base, allow_http=True)


def test_load_500(http_server):
    http_server.serve("/releasechannels/1-36.yaml", b"oops", status=500)
    with pytest.raises(ManifestError, match=r"^release channel http://\S+/releasechannels/1-36.yaml could not be fetched: HTTP 500") as raised:
        load_release_channel("1-36", http_server.base, allow_http=True)
    assert not isinstance(raised.value, NotPublished)


def test_load_wrong_channel_document(http_server, published_channel):
    http_server.serve("/releasechannels/1-36.yaml", published_channel("1-35", 13))
    with pytest.raises(ManifestError, match=r"metadata.name is '1-35'; expected the requested channel 1-36$"):
        load_release_channel("1-36", http_server.base, allow_http=True)


def test_load_from_a_directory(tmp_path, published_channel):
    (tmp_path / "releasechannels").mkdir()
    (tmp_path / "releasechannels" / "1-24.yaml").write_text(published_channel("1-24", 9))
    assert load_release_channel("1-24", str(tmp_path)).latest_release == 9
    assert load_release_channel("1.24", "file://" + str(tmp_path)).latest_release == 9
    with pytest.raises(NotPublished, match=r"^channel 1-25 is not published at \S+/releasechannels/1-25.yaml \(no such file\)"):
        load_release_channel("1-25", str(tmp_path))


# --------------------------------------------------------------------------- a channel as the release option


def _site(http_server, fixture_path, published_channel, prefix: str = "") -> None:
    """A site with channel 1-20 whose latest is 1 (the fixture manifest kubernetes-1-20-eks-1)."""
    http_server.serve(prefix + "/releasechannels/1-20.yaml", published_channel("1-20", 1))
    http_server.serve(prefix + "/kubernetes-1-20/kubernetes-1-20-eks-1.yaml", fixture_path(R120).read_bytes())


@pytest.mark.parametrize("text", ["1-20", "v1-20", "kubernetes-1-20", "1.20"])
def test_resolve_channel(http_server, fixture_path, published_channel, text):
    _site(http_server, fixture_path, published_channel)
    facts = resolve_release({"release": text, "base_url": http_server.base, "allow_http": True})
    assert (facts["name"], facts["requested"], facts["latest_of_channel"]) == (R120, text, "1-20")
    assert facts["manifest_url"] == http_server.base + "/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"
    assert http_server.hits == ["/releasechannels/1-20.yaml", "/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"]
    same = resolve_release({"release": R120, "base_url": http_server.base, "allow_http": True})
    assert {k: v for k, v in facts.items() if k not in ("requested", "latest_of_channel")} == {
        k: v for k, v in same.items() if k not in ("requested", "latest_of_channel")
    }
    assert (same["requested"], same["latest_of_channel"]) == (R120, None)


def test_resolve_channel_from_the_artifact_mirror(http_server, fixture_path, published_channel):
    _site(http_server, fixture_path, published_channel, prefix="/eksd")
    mirror = http_server.url("/eksd")
    facts = resolve_release({"release": "1-20", "artifact_mirror": mirror, "allow_http": True})
    assert facts["latest_of_channel"] == "1-20"
    assert facts["artifacts"]["bin/linux/amd64/kubelet"]["url"].startswith(mirror + "/kubernetes-1-20/releases/1/")
    assert http_server.hits[0] == "/eksd/releasechannels/1-20.yaml"


def test_channel_is_never_cached(http_server, fixture_path, published_channel, load_doc, dump, tmp_path):
    """The manifests are cached (they never change); the channel is read on every call and its new latest wins."""
    _site(http_server, fixture_path, published_channel)
    second = load_doc(R120)
    second["metadata"]["name"], second["spec"]["number"] = "kubernetes-1-20-eks-2", 2
    http_server.serve("/kubernetes-1-20/kubernetes-1-20-eks-2.yaml", dump(second))
    options = {"release": "1-20", "base_url": http_server.base, "allow_http": True, "cache_dir": str(tmp_path)}
    assert resolve_release(options)["name"] == R120
    assert resolve_release(options)["name"] == R120
    http_server.serve("/releasechannels/1-20.yaml", published_channel("1-20", 2))  # release 2 is published
    assert resolve_release(options)["name"] == "kubernetes-1-20-eks-2"
    assert http_server.hits_for("/releasechannels/1-20.yaml") == 3
    assert http_server.hits_for("/kubernetes-1-20/kubernetes-1-20-eks-1.yaml") == 1
    assert len(list(tmp_path.iterdir())) == 2  # the two manifests, no channel


def test_resolve_unpublished_channel(http_server):
    with pytest.raises(NotPublished, match=r"^channel 1-99 is not published at http://127.0.0.1:\d+/releasechannels/1-99.yaml \(HTTP 404\)"):
        resolve_release({"release": "1-99", "base_url": http_server.base, "allow_http": True})


def test_resolve_channel_whose_latest_manifest_is_missing(http_server, published_channel):
    http_server.serve("/releasechannels/1-20.yaml", published_channel("1-20", 5))
    with pytest.raises(ManifestError, match=r"^manifest http://\S+/kubernetes-1-20/kubernetes-1-20-eks-5.yaml was not found \(HTTP 404\)"):
        resolve_release({"release": "1-20", "base_url": http_server.base, "allow_http": True})


def test_bad_options_fail_before_the_channel_is_read(http_server):
    with pytest.raises(ManifestError, match=r"^arch 's390x' is not supported"):
        resolve_release({"release": "1-20", "base_url": http_server.base, "allow_http": True, "arch": "s390x"})
    assert http_server.hits == []


def test_channel_with_a_manifest(fixture_path, http_server):
    """With manifest set, the channel is not read: the manifest must be a release of that channel."""
    facts = resolve_release({"release": "1-20", "manifest": str(fixture_path(R120)), "base_url": http_server.base})
    assert (facts["name"], facts["requested"], facts["latest_of_channel"]) == (R120, "1-20", None)
    assert http_server.hits == []
    with pytest.raises(ManifestError, match=r"is release kubernetes-1-20-eks-1 \(channel 1-20\); expected a release of the requested channel 1-21$"):
        resolve_release({"release": "1-21", "manifest": str(fixture_path(R120))})


# --------------------------------------------------------------------------- probing


def _publish(http_server, published_channel, channels: dict, prefix: str = "") -> None:
    for channel, latest in channels.items():
        http_server.serve(f"{prefix}/releasechannels/{channel}.yaml", published_channel(channel, latest))


def _probed(http_server) -> list:
    return [hit.rsplit("/", 1)[1][: -len(".yaml")] for hit in http_server.hits]


def test_probe_with_gaps(http_server, published_channel):
    """A mirror holding 1-24, 1-35 and 1-36 only: the ten missing channels between are a gap, not the end."""
    _publish(http_server, published_channel, {"1-24": 9, "1-35": 13, "1-36": 7}, prefix="/eksd")
    found = probe_release_channels(http_server.url("/eksd"), allow_http=True)
    assert [(c.name, c.latest_release) for c in found] == [("1-24", 9), ("1-35", 13), ("1-36", 7)]
    assert _probed(http_server) == [f"1-{minor}" for minor in range(18, 36 + 12 + 1)]  # 12 misses after 1-36


def test_probe_stops_after_max_misses(http_server, published_channel):
    _publish(http_server, published_channel, {"1-24": 9, "1-35": 13, "1-36": 7})
    found = probe_release_channels(http_server.base, allow_http=True, max_misses=10)
    assert [c.name for c in found] == ["1-24"]  # 1-25 ... 1-34 missing: ten in a row
    assert _probed(http_server)[-1] == "1-34"


def test_probe_the_whole_site(http_server, published_channel):
    channels = {f"1-{minor}": minor - 10 for minor in range(18, 37)}
    _publish(http_server, published_channel, channels)
    found = probe_release_channels(http_server.base, allow_http=True, max_misses=1)
    assert {c.name: c.latest_release for c in found} == channels
    assert _probed(http_server)[-1] == "1-37"


def test_probe_finds_nothing(http_server):
    with pytest.raises(
        NotPublished,
        match=r"^no release channel is published under http://127.0.0.1:\d+/releasechannels/<channel>.yaml "
        r"\(channels 1-18 to 1-20 probed\); expected at least one: check base_url and artifact_mirror, "
        r"name the channels, or raise max_misses$",
    ):
        probe_release_channels(http_server.base, allow_http=True, max_misses=3)
    assert _probed(http_server) == ["1-18", "1-19", "1-20"]


def test_probe_stops_on_other_errors(http_server, published_channel):
    _publish(http_server, published_channel, {"1-18": 4})
    http_server.serve("/releasechannels/1-19.yaml", b"oops", status=500)
    with pytest.raises(ManifestError, match=r"^release channel \S+/releasechannels/1-19.yaml could not be fetched: HTTP 500"):
        probe_release_channels(http_server.base, allow_http=True)
    http_server.serve("/releasechannels/1-19.yaml", published_channel("1-18", 4))
    with pytest.raises(ManifestError, match=r"metadata.name is '1-18'; expected the requested channel 1-19$"):
        probe_release_channels(http_server.base, allow_http=True)


@pytest.mark.parametrize("bad", [0, -1, True, "12"])
def test_probe_max_misses_must_be_positive(bad):
    with pytest.raises(ManifestError, match=r"^max_misses is .*; expected a whole number of 1 or more$"):
        probe_release_channels("http://127.0.0.1:9", allow_http=True, max_misses=bad)
