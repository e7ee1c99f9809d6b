"""control_plane_oidc on a real API server: an OIDC issuer's ID token authenticates as the prefixed user.

Runs where the scenario sets EKSD_TEST_OIDC: the ha scenario (`make test-ha`, part of `make test-day2`), 1.24
with three API servers, the --oidc-* flags. Its two kube-apiserver restarts cost about 3 minutes on a 2-core
machine, too much for `make test`. By hand on a lab of any release (1.32+: the jwt entry of the
AuthenticationConfiguration): `EKSD_TEST_OIDC=true EKSD_TEST_RELEASE=1-36-7 pytest molecule/shared/tests/test_oidc.py`.

oidc_issuer.Issuer serves discovery and keys over HTTPS on the lab gateway with its own test CA;
molecule/shared/oidc.yml applies the role's configuration files and units with control_plane_oidc (the CA
through ca_file, read on the controller), and the role's handler restarts kube-apiserver; then the issuer's
tokens are sent to the API server from the controller. A last run without the input puts back the very same
files. Tokens are never printed.
"""
from __future__ import annotations

import hashlib
import json
import ssl
import time
import urllib.error
import urllib.request
from urllib.parse import urlparse

import pytest
import yaml
from lab_runs import PKI_DIR, leaks, playbook
from oidc_issuer import Issuer
from test_cluster import FIRST_CP, GROUPS, INVENTORY, env_flag

pytestmark = pytest.mark.skipif(not env_flag("EKSD_TEST_OIDC"),
                                reason="EKSD_TEST_OIDC is off in this scenario")

CLIENT_ID = "eksd-lab"
FILES = ["/etc/kubernetes/authentication-config.yaml", "/etc/systemd/system/kube-apiserver.service",
         "/etc/kubernetes/pki/oidc-ca.crt", "/etc/kubernetes/encryption-config.yaml"]
FIRST = sorted(GROUPS["control_plane"])[0]
API = f"https://{GROUPS['all'][FIRST].get('ip') or GROUPS['all'][FIRST]['ansible_host']}:6443"


def _gateway() -> str:
    """The lab gateway, where the artifact mirror listens (the inventory's eksd_artifact_mirror)."""
    doc = yaml.safe_load(INVENTORY.read_text())
    return urlparse(doc["all"]["children"]["k8s_cluster"]["vars"]["eksd_artifact_mirror"]).hostname


def _fingerprints() -> dict[str, str | None]:
    out = {}
    for path in FILES:
        f = FIRST_CP.file(path)
        out[path] = hashlib.sha256(f.content).hexdigest() if f.exists else None
    return out


def _request(token: str, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
    context = ssl.create_default_context(cafile=str(PKI_DIR / "ca.crt"))
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(API + path, data=data, method=method,
                                 headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=context, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _who(token: str) -> tuple[int, str, list[str]]:
    """(status, user, groups) the API server sees for a token: SelfSubjectReview from 1.28, else the 403's message."""
    status, doc = _request(token, "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                           {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    if status in (200, 201):
        info = doc["status"]["userInfo"]
        return status, info["username"], info.get("groups", [])
    # before 1.28 there is no v1 SelfSubjectReview: the 403 for the unknown path names the authenticated user
    message = doc.get("message", "")
    user = message.split('User "', 1)[1].split('"', 1)[0] if 'User "' in message else ""
    return status, user, []


@pytest.fixture(scope="module")
def issuer(tmp_path_factory):
    issuer = Issuer(_gateway())
    ca_file = tmp_path_factory.mktemp("oidc") / "ca.pem"
    ca_file.write_text(issuer.ca_pem)
    before = _fingerprints()
    oidc = {"issuer_url": issuer.url, "client_id": CLIENT_ID, "ca_file": str(ca_file),
            "groups_claim": "groups", "required_claims": {"eksd_lab": "oidc"}}
    started = time.monotonic()
    proc, output, recap = playbook("molecule/shared/oidc.yml", "-e", json.dumps({"control_plane_oidc": oidc}))
    applied = time.monotonic() - started
    assert proc.returncode == 0, output[-4000:]
    assert not leaks(output, set()), "playbook output holds key material"
    try:
        yield issuer, before, recap, applied
    finally:
        started = time.monotonic()
        proc, output, recap = playbook("molecule/shared/oidc.yml")
        issuer.stop()
        print(f"OIDC applied in {applied:.0f} s, removed in {time.monotonic() - started:.0f} s")
        assert proc.returncode == 0, output[-4000:]
        assert _fingerprints() == before, "the run without control_plane_oidc did not put back the same files"


def _wait_for_user(issuer: Issuer, token: str, deadline_s: float = 60) -> tuple[int, str, list[str]]:
    """The authenticator starts when the API server has fetched the discovery document and keys: retry until then."""
    end = time.monotonic() + deadline_s
    while True:
        result = _who(token)
        if result[1] or time.monotonic() > end:
            return result
        time.sleep(2)


def test_oidc_token_authenticates_as_prefixed_user(issuer):
    iss, before, recap, applied = issuer
    assert recap[FIRST][0] > 0, recap  # something was written, and the handler restarted kube-apiserver
    token = iss.token(CLIENT_ID, sub="alice", groups=["admins"], eksd_lab="oidc")
    status, user, groups = _wait_for_user(iss, token)
    assert user == "oidc:alice", (status, user, iss.requests)
    if groups:  # SelfSubjectReview (1.28+) shows them; a 1.24 403 names only the user
        assert "oidc:admins" in groups and "system:authenticated" in groups, groups
    assert "/.well-known/openid-configuration" in iss.requests and "/keys" in iss.requests


def test_token_for_another_audience_is_refused(issuer):
    iss = issuer[0]
    status, user, _groups = _who(iss.token("someone-else", sub="mallory", eksd_lab="oidc"))
    assert (status, user) == (401, ""), (status, user)


def test_token_without_the_required_claim_is_refused(issuer):
    iss = issuer[0]
    status, user, _groups = _who(iss.token(CLIENT_ID, sub="mallory"))
    assert (status, user) == (401, ""), (status, user)
