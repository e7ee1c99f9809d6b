"""The containerd role's further registries (containerd_registries), rendered with Ansible's templar from the
role's own files: what each hosts.toml says, and what validate.yml refuses before a host is changed."""

from __future__ import annotations

from pathlib import Path

import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

ROLE = Path(__file__).resolve().parents[3] / "roles" / "containerd"


def _templar(registries) -> Templar:
    loader = DataLoader()
    loader.set_basedir(str(ROLE))
    variables = {
        **yaml.safe_load((ROLE / "defaults" / "main.yml").read_text()),
        **yaml.safe_load((ROLE / "vars" / "main.yml").read_text()),
        "containerd_registries": registries,
        "ansible_managed": "managed",
    }
    return Templar(loader=loader, variables=variables)


def _registries(registries) -> list[dict]:
    return _templar(registries).template("{{ _containerd_registries }}")


def _problems(registries) -> list[str]:
    return _templar(registries).template("{{ _containerd_registries_problems }}")


def _hosts_toml(entry: dict) -> str:
    templar = _templar([])
    templar.available_variables = {**templar.available_variables, "item": entry}
    return templar.template((ROLE / "templates" / "registry-hosts.toml.j2").read_text())


def test_none_by_default():
    assert _registries([]) == []
    assert _problems([]) == []


def test_plain_http_registry_pulled_by_its_own_name():
    (entry,) = _registries([{"registry": "10.0.0.5:5000", "url": "http://10.0.0.5:5000"}])
    assert entry == {"registry": "10.0.0.5:5000", "server": "http://10.0.0.5:5000", "host": "http://10.0.0.5:5000",
                     "override_path": False, "skip_verify": False}
    text = _hosts_toml(entry)
    assert 'server = "http://10.0.0.5:5000"' in text
    assert '[host."http://10.0.0.5:5000"]' in text and 'capabilities = ["pull", "resolve"]' in text
    assert "override_path" not in text and "skip_verify" not in text


def test_mirror_of_a_public_registry_with_a_path():
    (entry,) = _registries([{"registry": "registry.k8s.io", "url": "https://mirror.example.com:8443/k8s/"}])
    assert entry["server"] == "https://registry.k8s.io"
    assert entry["host"] == "https://mirror.example.com:8443/v2/k8s"
    assert entry["override_path"] is True
    assert "override_path = true" in _hosts_toml(entry)


def test_default_url_and_docker_hub_and_skip_verify():
    hub, own = _registries([{"registry": "docker.io", "url": "https://hub-mirror.example.com"},
                            {"registry": "registry.example.com", "skip_verify": True}])
    assert hub["server"] == "https://registry-1.docker.io"
    assert own["server"] == own["host"] == "https://registry.example.com"
    assert "skip_verify = true" in _hosts_toml(own)


def test_valid_entries_pass():
    assert _problems([{"registry": "10.0.0.5:5000", "url": "http://10.0.0.5:5000"},
                      {"registry": "registry.k8s.io", "url": "https://mirror.example.com/k8s", "skip_verify": True}]) == []


def test_refusals_name_each_problem():
    problems = _problems([
        {"registry": "http://10.0.0.5:5000"},                      # a url, not a name
        {"registry": "reg.example.com/path"},                      # a path
        {"registry": "a.example.com", "url": "ftp://a.example.com"},
        {"registry": "b.example.com", "url": "http://b.example.com", "skip_verify": True},
        {"registry": "c.example.com"}, {"registry": "c.example.com"},
    ])
    assert len(problems) == 5, problems
    assert "containerd_registries[0]: registry must be host[:port]" in problems[0]
    assert "containerd_registries[1]" in problems[1]
    assert "url must be http(s)://host[:port][/path]" in problems[2]
    assert "skip_verify is for https urls" in problems[3]
    assert "c.example.com is named twice" in problems[4]
