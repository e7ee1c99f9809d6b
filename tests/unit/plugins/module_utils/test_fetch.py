"""plugins/module_utils/_fetch.py: where the manifest is, reading it (file, http, https), the cache."""

from __future__ import annotations

import datetime
import hashlib
import socket
import ssl
import tempfile
import threading
import time

import pytest
from ansible_collections.eksd.distro.plugins.module_utils._fetch import (
    RELEASE_ARGUMENT_SPEC,
    cache_path,
    load_release,
    manifest_location,
    read_manifest,
    resolve_release,
)
from ansible_collections.eksd.distro.plugins.module_utils._manifest import (
    ManifestError,
    release_facts,
)

R120 = "kubernetes-1-20-eks-1"
PATH_120 = "/kubernetes-1-20/kubernetes-1-20-eks-1.yaml"


@pytest.mark.parametrize(
    ("options", "location", "release"),
    [
        ({"release": "1-24-9"}, "https://distro.eks.amazonaws.com/kubernetes-1-24/kubernetes-1-24-eks-9.yaml", "kubernetes-1-24-eks-9"),
        ({"release": "v1-24-eks-9"}, "https://distro.eks.amazonaws.com/kubernetes-1-24/kubernetes-1-24-eks-9.yaml", "kubernetes-1-24-eks-9"),
        ({"release": "kubernetes-1-24-eks-9"}, "https://distro.eks.amazonaws.com/kubernetes-1-24/kubernetes-1-24-eks-9.yaml", "kubernetes-1-24-eks-9"),
        (
            {"release": "1-24-9", "base_url": "https://copy.example.com/eksd/"},
            "https://copy.example.com/eksd/kubernetes-1-24/kubernetes-1-24-eks-9.yaml",
            "kubernetes-1-24-eks-9",
        ),
        (
            {"release": "1-24-9", "artifact_mirror": "http://10.0.0.1:8080/eksd"},
            "http://10.0.0.1:8080/eksd/kubernetes-1-24/kubernetes-1-24-eks-9.yaml",
            "kubernetes-1-24-eks-9",
        ),
        (
            {"release": "1-24-9", "artifact_mirror": "http://10.0.0.1:8080/eksd", "base_url": "https://distro.eks.amazonaws.com"},
            "https://distro.eks.amazonaws.com/kubernetes-1-24/kubernetes-1-24-eks-9.yaml",
            "kubernetes-1-24-eks-9",
        ),
        ({"release": "1-24-9", "manifest": "/srv/m.yaml", "artifact_mirror": "http://m"}, "/srv/m.yaml", "kubernetes-1-24-eks-9"),
        ({"manifest": "https://x.example.com/m.yaml"}, "https://x.example.com/m.yaml", None),
        ({"release": "", "manifest": "m.yaml"}, "m.yaml", None),
    ],
)
def test_manifest_location(options, location, release):
    found, wanted = manifest_location(options)
    assert found == location
    assert (wanted.name if wanted else None) == release


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {},
            r"^neither release nor manifest is set; expected a release id such as 1-24-9, a channel such as 1-36, "
            r"or a manifest URL or path$",
        ),
        ({"release": "latest"}, r"^release 'latest' is not an EKS-D release id or channel; expected a release such as"),
        ({"release": "1-24-x", "manifest": "m.yaml"}, r"^release '1-24-x' is not an EKS-D release id or channel"),
        (
            {"release": "1-36", "base_url": "https://copy.example.com/"},
            r"^release '1-36' is channel 1-36, whose latest release is read from "
            r"https://copy.example.com/releasechannels/1-36.yaml; expected a release id here$",
        ),
    ],
)
def test_manifest_location_errors(options, message):
    with pytest.raises(ManifestError, match=message):
        manifest_location(options)


def test_argument_spec_matches_fragment():
    import yaml
    from ansible_collections.eksd.distro.plugins.doc_fragments.release_options import (
        ModuleDocFragment,
    )

    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(documented) == set(RELEASE_ARGUMENT_SPEC)
    for name, spec in RELEASE_ARGUMENT_SPEC.items():
        assert documented[name]["type"] == spec["type"], name
        assert documented[name].get("default") == spec.get("default"), name
        assert documented[name].get("choices") == spec.get("choices"), name


# --------------------------------------------------------------------------- local files


def test_read_local_path_and_file_url(fixture_path):
    path = fixture_path(R120)
    data = path.read_bytes()
    assert read_manifest(str(path)) == data
    assert read_manifest("file://" + str(path)) == data
    assert read_manifest("file://localhost" + str(path)) == data
    assert load_release(str(path)).name == R120


@pytest.mark.parametrize(
    ("location", "message"),
    [
        (
            "/nonexistent/kubernetes-1-20-eks-1.yaml",
            r"^manifest file /nonexistent/kubernetes-1-20-eks-1.yaml does not exist; expected a Release manifest there$",
        ),
        ("file:///nonexistent/m.yaml", r"^manifest file file:///nonexistent/m.yaml does not exist"),
        ("ftp://example.com/m.yaml", r"^manifest 'ftp://example.com/m.yaml' is not a supported location; expected an https://"),
        ("file://otherhost/m.yaml", r"is not a supported location"),
    ],
)
def test_read_errors(location, message):
    with pytest.raises(ManifestError, match=message):
        read_manifest(location)


def test_read_directory(tmp_path):
    with pytest.raises(ManifestError, match=r"^manifest file .* cannot be read \(Is a directory\)$"):
        read_manifest(str(tmp_path))


def test_requested_release_must_match(fixture_path):
    with pytest.raises(
        ManifestError,
        match=r"is release kubernetes-1-19-eks-4 \(channel 1-19, number 4\); "
        r"expected the requested release kubernetes-1-20-eks-1$",
    ):
        resolve_release({"release": "1-20-1", "manifest": str(fixture_path("kubernetes-1-19-eks-4"))})


def test_resolve_release_local(fixture_path):
    path = str(fixture_path(R120))
    facts = resolve_release({"release": "v1-20-eks-1", "manifest": path, "arch": "arm64", "image_mirror": "10.88.0.1:5000"})
    assert facts["manifest_url"] == path
    assert facts["manifest_file"] == path
    assert facts["arch"] == "arm64"
    assert "bin/linux/arm64/kubeadm" in facts["artifacts"]
    assert facts["images"]["pause-image"] == "10.88.0.1:5000/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"arch": "s390x"}, r"^arch 's390x' is not supported"),
        ({"os": "solaris"}, r"^os 'solaris' is not supported"),
        ({"artifact_mirror": "http://10.0.0.1:8080/eksd"}, r"^artifact_mirror http://10.0.0.1:8080/eksd uses plain http"),
        ({"image_mirror": "docker://x"}, r"^image_mirror 'docker://x' is not a registry"),
    ],
)
def test_bad_options_fail_before_reading(options, message):
    with pytest.raises(ManifestError, match=message):
        resolve_release(dict(options, manifest="/nonexistent.yaml"))


def test_release_data_is_passed_through(fixture_path):
    facts = resolve_release({"manifest": str(fixture_path(R120))})
    assert resolve_release({"release_data": facts, "manifest": "/nonexistent.yaml"}) == facts
    registered = {"changed": False, "release": facts, "failed": False}
    assert resolve_release({"release_data": registered}) == facts
    with pytest.raises(ManifestError, match=r"^release_data is a list; expected the release dict"):
        resolve_release({"release_data": [1]})


# --------------------------------------------------------------------------- http


def test_http_needs_allow_http(http_server, fixture_path):
    url = http_server.serve(PATH_120, fixture_path(R120).read_bytes())
    with pytest.raises(
        ManifestError,
        match=r"^manifest URL http://127.0.0.1:\d+/kubernetes-1-20/kubernetes-1-20-eks-1.yaml "
        r"uses plain http; expected https, or set allow_http=true",
    ):
        resolve_release({"manifest": url})
    assert http_server.hits == []
    assert resolve_release({"manifest": url, "allow_http": True})["name"] == R120


def test_http_fetch_from_mirror(http_server, fixture_path):
    """An air-gapped user gives only the mirror: the manifest comes from it, at the site's path."""
    http_server.serve("/eksd" + PATH_120, fixture_path(R120).read_bytes())
    mirror = http_server.url("/eksd")
    facts = resolve_release({"release": "1-20-1", "artifact_mirror": mirror, "allow_http": True})
    assert http_server.hits == ["/eksd" + PATH_120]
    assert facts["manifest_url"] == mirror + PATH_120
    assert facts["artifacts"]["etcd-linux-amd64-v3.4.15.tar.gz"]["url"] == (
        mirror + "/kubernetes-1-20/releases/1/artifacts/etcd/v3.4.15/etcd-linux-amd64-v3.4.15.tar.gz"
    )


def test_http_404(http_server):
    with pytest.raises(
        ManifestError,
        match=r"^manifest http://127.0.0.1:\d+/kubernetes-1-99/kubernetes-1-99-eks-1.yaml was not "
        r"found \(HTTP 404\); expected a published release",
    ):
        resolve_release({"release": "1-99-1", "base_url": http_server.base, "allow_http": True})
    assert http_server.hits == ["/kubernetes-1-99/kubernetes-1-99-eks-1.yaml"]


def test_http_500(http_server):
    url = http_server.serve("/m.yaml", b"oops", status=500)
    with pytest.raises(ManifestError, match=r"^manifest http://127.0.0.1:\d+/m.yaml could not be fetched: HTTP 500"):
        resolve_release({"manifest": url, "allow_http": True})


def test_unreachable(http_server):  # the fixture only clears proxy settings here
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/m.yaml"  # nothing listens there once closed
    with pytest.raises(ManifestError, match=r"^manifest http://127.0.0.1:\d+/m.yaml is unreachable \("):
        read_manifest(url, allow_http=True, timeout=5)


def test_cache_fetches_once(http_server, fixture_path, tmp_path):
    data = fixture_path(R120).read_bytes()
    http_server.serve(PATH_120, data)
    cache = tmp_path / "cache"
    options = {"release": "1-20-1", "base_url": http_server.base, "allow_http": True, "cache_dir": str(cache)}

    first = resolve_release(options)
    second = resolve_release(options)
    assert second == first
    assert http_server.hits == [PATH_120]
    stored = cache / (hashlib.sha256(http_server.url(PATH_120).encode()).hexdigest() + ".yaml")
    assert stored.read_bytes() == data
    assert cache_path(str(cache), http_server.url(PATH_120)) == str(stored)

    # other arch, other mirrors: still the same manifest, still no fetch
    arm = resolve_release(dict(options, arch="arm64", image_mirror="10.88.0.1:5000"))
    assert "bin/linux/arm64/kubelet" in arm["artifacts"]
    http_server.routes.clear()
    assert resolve_release(options) == first
    assert http_server.hits == [PATH_120]


def test_cache_off_fetches_each_time(http_server, fixture_path):
    url = http_server.serve(PATH_120, fixture_path(R120).read_bytes())
    resolve_release({"manifest": url, "allow_http": True})
    resolve_release({"manifest": url, "allow_http": True})
    assert http_server.hits_for(PATH_120) == 2


@pytest.mark.parametrize(
    ("body", "release", "message"),
    [
        (b"<html>502 Bad Gateway</html>", "1-20-1", r"is not a mapping \(got str\)"),
        (b"kind: [", "1-20-1", r"is not valid YAML"),
        (None, "1-20-1", r"is release kubernetes-1-19-eks-4 .*expected the requested release kubernetes-1-20-eks-1"),
    ],
)
def test_bad_manifest_is_not_cached(http_server, fixture_path, tmp_path, body, release, message):
    body = fixture_path("kubernetes-1-19-eks-4").read_bytes() if body is None else body
    http_server.serve(PATH_120, body)
    cache = tmp_path / "cache"
    options = {"release": release, "base_url": http_server.base, "allow_http": True, "cache_dir": str(cache)}
    with pytest.raises(ManifestError, match=message):
        resolve_release(options)
    assert not cache.exists() or list(cache.iterdir()) == []
    # fixed upstream: the next run fetches again and caches
    http_server.serve(PATH_120, fixture_path(R120).read_bytes())
    assert resolve_release(options)["name"] == R120
    assert len(list(cache.iterdir())) == 1
    assert http_server.hits_for(PATH_120) == 2


def test_damaged_cache_is_refetched(http_server, fixture_path, tmp_path):
    http_server.serve(PATH_120, fixture_path(R120).read_bytes())
    cache = tmp_path / "cache"
    options = {"release": "1-20-1", "base_url": http_server.base, "allow_http": True, "cache_dir": str(cache)}
    resolve_release(options)
    stored = next(cache.iterdir())
    stored.write_bytes(stored.read_bytes()[:500])  # truncated
    assert resolve_release(options)["name"] == R120
    assert http_server.hits_for(PATH_120) == 2
    assert stored.read_bytes() == fixture_path(R120).read_bytes()


def test_cache_dir_is_a_file(http_server, fixture_path, tmp_path):
    url = http_server.serve(PATH_120, fixture_path(R120).read_bytes())
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ManifestError, match=r"^cache_dir .*/file cannot be read \(Not a directory\); expected a directory$"):
        resolve_release({"manifest": url, "allow_http": True, "cache_dir": str(blocker)})
    assert http_server.hits == []


def test_cache_dir_not_writable(http_server, fixture_path, tmp_path, monkeypatch):
    url = http_server.serve(PATH_120, fixture_path(R120).read_bytes())

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(ManifestError, match=r"^cache_dir .*/cache is not writable \(Permission denied\); expected a directory$"):
        resolve_release({"manifest": url, "allow_http": True, "cache_dir": str(tmp_path / "cache")})


def test_local_files_are_not_cached(fixture_path, tmp_path):
    cache = tmp_path / "cache"
    resolve_release({"manifest": str(fixture_path(R120)), "cache_dir": str(cache)})
    assert not cache.exists()


# --------------------------------------------------------------------------- https


@pytest.fixture
def https_server(http_server, tmp_path):
    """The http_server fixture behind TLS with a fresh self-signed certificate for 127.0.0.1."""
    x509 = pytest.importorskip("cryptography.x509")
    import ipaddress

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime(*time.gmtime()[:6])  # naive UTC, as cryptography reads it
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    http_server.httpd.shutdown()
    http_server.thread.join(5)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert_file), str(key_file))
    http_server.httpd.socket = context.wrap_socket(http_server.httpd.socket, server_side=True)
    http_server.base = http_server.base.replace("http://", "https://")
    http_server.thread = threading.Thread(target=http_server.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    http_server.thread.start()
    return http_server


def test_https_validate_certs(https_server, fixture_path):
    url = https_server.serve(PATH_120, fixture_path(R120).read_bytes())
    assert url.startswith("https://127.0.0.1:")
    with pytest.raises(ManifestError, match=r"^manifest https://127.0.0.1:\d+/\S+ is unreachable \(.*(certificate|CERTIFICATE)"):
        resolve_release({"manifest": url})
    facts = resolve_release({"manifest": url, "validate_certs": False})
    assert facts["name"] == R120
    assert facts == release_facts(load_release(str(fixture_path(R120))), manifest_url=url)
