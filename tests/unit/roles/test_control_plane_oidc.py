"""The control_plane role's OIDC input, rendered with Ansible's templar from the role's own files.

From Kubernetes 1.32 the issuer is a ``jwt`` entry of the AuthenticationConfiguration; before, the
``--oidc-*`` flags (rendered through the role's unit template). Without the input, nothing changes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleError
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

ROLE = Path(__file__).resolve().parents[3] / "roles" / "control_plane"

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----"

OIDC = {
    "issuer_url": "https://issuer.example.com/realms/k8s",
    "client_id": "kubernetes",
    "ca_pem": CA_PEM,
    "required_claims": {"hd": "example.com", "tier": "ops"},
}


def _templar(version: str, oidc: dict | None, **extra) -> Templar:
    loader = DataLoader()
    loader.set_basedir(str(ROLE))
    variables = {
        **yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()),
        **yaml.safe_load((ROLE / "vars" / "main.yml").read_text()),
        "control_plane_kubernetes_version": version,
        "control_plane_oidc": oidc,
        "control_plane_advertise_address": "10.0.0.11",
        "control_plane_encryption_keys": [{"name": "key1", "secret": "c2VjcmV0"}],
        "groups": {"etcd": ["node1"]},
        "hostvars": {"node1": {"ip": "10.0.0.11"}},
        "inventory_hostname": "node1",
        **extra,
    }
    return Templar(loader=loader, variables=variables)


def _authentication_file(templar: Templar) -> dict:
    return templar.template("{{ _control_plane_authentication_file }}")


def _flags(templar: Templar) -> dict:
    return templar.template("{{ _control_plane_apiserver_flags }}")


def _unit(templar: Templar) -> str:
    templar.available_variables = {
        **templar.available_variables,
        "item": {"name": "kube-apiserver", "flags": _flags(templar)},
        "ansible_managed": "managed",
    }
    return templar.template((ROLE / "templates" / "service.j2").read_text())


@pytest.mark.parametrize("version", ["v1.32.9", "v1.36.0"])
def test_no_oidc_keeps_the_authentication_configuration(version):
    templar = _templar(version, None)
    assert _authentication_file(templar) == templar.template("{{ _control_plane_authentication_config }}")
    assert "jwt" not in _authentication_file(templar)
    assert not [flag for flag in _flags(templar) if flag.startswith("oidc-")]


def test_no_oidc_before_1_32_adds_no_flag():
    unit = _unit(_templar("v1.24.7", None))
    assert "oidc" not in unit
    assert "--anonymous-auth=false \\\n" in unit


@pytest.mark.parametrize(("version", "api_version"), [("v1.32.9", "v1beta1"), ("v1.36.0", "v1")])
def test_jwt_entry_from_1_32(version, api_version):
    templar = _templar(version, OIDC)
    config = _authentication_file(templar)
    assert config["apiVersion"] == f"apiserver.config.k8s.io/{api_version}"
    assert config["anonymous"]["enabled"] is True
    assert config["jwt"] == [
        {
            "issuer": {
                "url": "https://issuer.example.com/realms/k8s",
                "audiences": ["kubernetes"],
                "certificateAuthority": CA_PEM,
            },
            "claimMappings": {
                "username": {"claim": "sub", "prefix": "oidc:"},
                "groups": {"claim": "groups", "prefix": "oidc:"},
            },
            "claimValidationRules": [
                {"claim": "hd", "requiredValue": "example.com"},
                {"claim": "tier", "requiredValue": "ops"},
            ],
        }
    ]
    # the configuration carries everything: no OIDC flag next to --authentication-config (they exclude each other)
    flags = _flags(templar)
    assert flags["authentication-config"] == "/etc/kubernetes/authentication-config.yaml"
    assert not [flag for flag in flags if flag.startswith("oidc-")]


def test_jwt_entry_minimal_and_no_groups():
    oidc = {"issuer_url": "https://issuer.example.com", "client_id": "k8s", "groups_claim": "",
            "username_claim": "email", "username_prefix": ""}
    jwt = _authentication_file(_templar("v1.33.1", oidc))["jwt"][0]
    assert jwt == {
        "issuer": {"url": "https://issuer.example.com", "audiences": ["k8s"]},
        "claimMappings": {"username": {"claim": "email", "prefix": ""}},
    }


def test_flags_before_1_32():
    templar = _templar("v1.31.4", OIDC)
    flags = _flags(templar)
    assert {key: value for key, value in flags.items() if key.startswith("oidc-")} == {
        "oidc-issuer-url": "https://issuer.example.com/realms/k8s",
        "oidc-client-id": "kubernetes",
        "oidc-username-claim": "sub",
        "oidc-username-prefix": "oidc:",
        "oidc-groups-claim": "groups",
        "oidc-groups-prefix": "oidc:",
        "oidc-ca-file": "/etc/kubernetes/pki/oidc-ca.crt",
        "oidc-required-claim": {"hd": "example.com", "tier": "ops"},
    }
    assert templar.template("{{ _control_plane_oidc_ca }}") == CA_PEM
    unit = _unit(templar)
    # one flag per required claim: the API server does not split the value on commas
    assert "    --oidc-required-claim=hd=example.com \\\n    --oidc-required-claim=tier=ops \\\n" in unit
    assert "    --oidc-issuer-url=https://issuer.example.com/realms/k8s \\\n" in unit


def test_flags_empty_prefix_and_no_groups():
    oidc = {"issuer_url": "https://issuer.example.com", "client_id": "k8s", "groups_claim": "", "username_prefix": ""}
    flags = _flags(_templar("v1.24.7", oidc))
    oidc_flags = {key: value for key, value in flags.items() if key.startswith("oidc-") and value is not None}
    assert oidc_flags == {
        "oidc-issuer-url": "https://issuer.example.com",
        "oidc-client-id": "k8s",
        "oidc-username-claim": "sub",
        # an empty --oidc-username-prefix would mean "<issuer_url>#"; "-" is no prefix
        "oidc-username-prefix": "-",
    }


def test_ca_file_is_read_on_the_controller(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text(CA_PEM + "\n\n")
    oidc = {"issuer_url": "https://issuer.example.com", "client_id": "k8s", "ca_file": str(ca)}
    jwt = _authentication_file(_templar("v1.36.0", oidc))["jwt"][0]
    assert jwt["issuer"]["certificateAuthority"] == CA_PEM


def test_overrides_still_win():
    flags = _flags(_templar("v1.30.2", OIDC, control_plane_apiserver_flag_overrides={"oidc-username-claim": "email"}))
    assert flags["oidc-username-claim"] == "email"


def test_missing_ca_file_is_an_error(tmp_path):
    oidc = {"issuer_url": "https://issuer.example.com", "client_id": "k8s", "ca_file": str(tmp_path / "none.pem")}
    with pytest.raises(AnsibleError):
        _authentication_file(_templar("v1.36.0", oidc))
