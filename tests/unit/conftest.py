"""Shared set-up for the unit tests.

* Makes ``ansible_collections.eksd.distro`` importable under plain ``pytest`` from the repo root
  (the committed ``.collections`` symlink points back at the checkout); ``ansible-test units``
  already provides it.
* Reads the EKS-D fixtures from ``tests/fixtures/eksd`` (sources in the SOURCES.md files there).
* Parametrizes every test that takes ``manifest_name`` over every fixture manifest.
* Builds synthetic manifests from a fixture (``current_format``, ``dump_manifest``).
"""

from __future__ import annotations

import copy
import hashlib
import http.server
import random
import sys
import threading
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
_COLLECTIONS = REPO / ".collections"


def _importable_collection() -> None:
    """Make ``ansible_collections.eksd.distro`` importable, the way Ansible itself resolves it.

    ``ansible-test units`` installs Ansible's collection finder before tests are imported. Under
    plain pytest, put ``.collections`` on sys.path and install the same finder over it (without
    the finder, ``ansible_collections`` would be a plain namespace package, which the plugin
    loader refuses to load lookups from).
    """
    from ansible.utils.collection_loader import AnsibleCollectionConfig

    if AnsibleCollectionConfig.collection_finder is not None:
        return
    sys.path.insert(0, str(_COLLECTIONS))
    from ansible.plugins.loader import init_plugin_loader

    init_plugin_loader(str(_COLLECTIONS))


_importable_collection()


FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eksd"
MANIFESTS = FIXTURES / "manifests"
MANIFEST_NAMES = sorted(path.name for path in MANIFESTS.glob("*.yaml"))


CHANNELS = FIXTURES / "releasechannels"
CHANNEL_NAMES = sorted(path.name for path in CHANNELS.glob("*.yaml"))


def pytest_generate_tests(metafunc):
    if "manifest_name" in metafunc.fixturenames:
        metafunc.parametrize("manifest_name", MANIFEST_NAMES)
    if "channel_file" in metafunc.fixturenames:
        metafunc.parametrize("channel_file", CHANNEL_NAMES)


def published_channel(channel: str, latest: int) -> str:
    """The published form of a fixture ReleaseChannel, as aws/eks-distro release/generate_crd.sh makes it:
    comment lines removed, latestRelease set to the newest release number (SOURCES.md there)."""
    text = (CHANNELS / f"{channel}.yaml").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines(keepends=True) if not line.startswith("#")]
    return "".join(lines).replace("latestRelease: 1\n", f"latestRelease: {latest}\n")


@pytest.fixture(name="published_channel")
def published_channel_fixture():
    """The ``published_channel`` function above."""
    return published_channel


@pytest.fixture
def manifest_names() -> list:
    return list(MANIFEST_NAMES)


@pytest.fixture(name="dump")
def dump_fixture():
    """The ``dump`` function below."""
    return dump


@pytest.fixture
def manifest_path(manifest_name) -> Path:
    return MANIFESTS / manifest_name


@pytest.fixture
def fixture_path():
    """Path of a fixture manifest by file name or release name (``kubernetes-1-20-eks-1``)."""

    def path(name: str) -> Path:
        return MANIFESTS / (name if name.endswith(".yaml") else name + ".yaml")

    return path


@pytest.fixture
def load_doc(fixture_path):
    """A fresh parsed copy of a fixture manifest, to mutate."""

    def load(name: str) -> dict:
        return yaml.safe_load(fixture_path(name).read_text(encoding="utf-8"))

    return load


class _IndentedDumper(yaml.SafeDumper):
    """Indents block sequences under their key, as the EKS-D docs copies do."""

    def increase_indent(self, flow=False, indentless=False):
        return super().increase_indent(flow, False)


def dump(doc: dict, style: str = "compact") -> str:
    """YAML text of ``doc``: ``compact`` (generator style) or ``docs`` (leading ---, comment, 4-space lists)."""
    if style == "compact":
        return yaml.safe_dump(doc, sort_keys=True, default_flow_style=False)
    body = yaml.dump(doc, Dumper=_IndentedDumper, indent=4, sort_keys=True, default_flow_style=False)
    return "# Copyright Amazon.com Inc. or its affiliates.\n\n---\n" + body


@pytest.fixture
def dump_manifest(tmp_path):
    """Write a document to a file and return its path."""
    counter = iter(range(1000))

    def write(doc, style: str = "compact", name: str | None = None) -> Path:
        path = tmp_path / (name or f"manifest-{next(counter)}.yaml")
        path.write_text(doc if isinstance(doc, str) else dump(doc, style), encoding="utf-8")
        return path

    return write


_CSI = {  # component -> (asset name, image repository) in the 2025-08 layout
    "external-attacher": ("csi-attacher-image", "csi-attacher:v4.8.1-eksbuild.1"),
    "external-provisioner": ("csi-provisioner-image", "csi-provisioner:v5.2.0-eksbuild.1"),
    "external-resizer": ("csi-resizer-image", "csi-resizer:v1.13.2-eksbuild.1"),
    "node-driver-registrar": ("csi-node-driver-registrar-image", "csi-node-driver-registrar:v2.13.0-eksbuild.1"),
    "livenessprobe": ("livenessprobe-image", "livenessprobe:v2.15.0-eksbuild.1"),
}


def to_current_format(doc: dict, seed: int = 7) -> dict:
    """What the generator emits since 2025-09, built from an older manifest.

    kube-proxy split out of kubernetes into its own component (archives still under
    ``kubernetes/<k8s tag>/``), ``imageDigest`` on every EKS-D image, CSI sidecars in
    public.ecr.aws/csi-components with new asset names and no digest, no
    snapshot-validation-webhook image, components in shuffled order.
    """
    doc = copy.deepcopy(doc)
    components = doc["status"]["components"]
    kubernetes = next(c for c in components if c["name"] == "kubernetes")
    proxy_assets = [a for a in kubernetes["assets"] if "kube-proxy" in a["name"]]
    kubernetes["assets"] = [a for a in kubernetes["assets"] if "kube-proxy" not in a["name"]]
    for asset in proxy_assets:
        if asset["name"].endswith(".exe"):
            asset["description"] = "kube-proxy binary for windows/amd64"
    components.append({"name": "kube-proxy", "gitTag": kubernetes["gitTag"], "assets": proxy_assets})

    for component in components:
        component["assets"] = [a for a in component["assets"] if a["name"] != "snapshot-validation-webhook-image"]
        for asset in component["assets"]:
            if asset["type"] != "Image":
                continue
            if component["name"] in _CSI:
                asset["name"], repository = _CSI[component["name"]]
                asset["image"] = {"uri": "public.ecr.aws/csi-components/" + repository}
            else:
                asset["image"]["imageDigest"] = "sha256:" + hashlib.sha256(asset["image"]["uri"].encode()).hexdigest()
    random.Random(seed).shuffle(components)
    return doc


@pytest.fixture
def current_format(load_doc):
    """A current-generator-format document built from a fixture (default 1-20-1)."""

    def build(name: str = "kubernetes-1-20-eks-1") -> dict:
        return to_current_format(load_doc(name))

    return build


class _Server:
    """A local HTTP server with fixed routes that counts requests (127.0.0.1 only)."""

    def __init__(self):
        self.routes: dict = {}  # path -> (status, body bytes)
        self.hits: list = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits.append(self.path)
                status, body = server.routes.get(self.path, (404, b"Not Found"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                return

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, body, status: int = 200) -> str:
        self.routes[path] = (status, body if isinstance(body, bytes) else body.encode("utf-8"))
        return self.url(path)

    def hits_for(self, path: str) -> int:
        return self.hits.count(path)


@pytest.fixture
def http_server(monkeypatch):
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    server = _Server()
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(5)


@pytest.fixture
def lookup_plugin():
    """A lookup plugin of this collection, loaded the way Ansible loads it (options from its docs)."""
    from ansible.plugins.loader import lookup_loader

    def get(name: str):
        plugin = lookup_loader.get(name)
        assert plugin is not None, f"lookup {name} not found"
        return plugin

    return get
