"""Per-OS decisions (roles/preflight/vars/platforms.yml) evaluated with recorded facts of each OS.

The roles' own files are loaded and templated with Ansible's Templar, as a play would: preflight's defaults and
platforms.yml with a host's facts (tests/unit/fixtures/facts, sources in each file's ``_source``), then the
containerd and node_prep defaults and vars with the ``eksd_platform`` fact preflight publishes. Nothing of their
logic is copied here; the expected values are the decisions themselves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar

REPO = Path(__file__).resolve().parents[2]
ROLES = REPO / "roles"
FACTS = Path(__file__).resolve().parent / "fixtures" / "facts"
FACT_FILES = sorted(p.stem for p in FACTS.glob("*.json"))
LOADER = DataLoader()

# fixture -> (platform entry, pkg_mgr, containerd install method, containerd packages, SELinux labelling)
SUPPORTED = {
    "debian-12": ("Debian", "apt", "package", ["containerd", "runc"], False),
    "debian-12-lab": ("Debian", "apt", "package", ["containerd", "runc"], False),
    "debian-13": ("Debian", "apt", "package", ["containerd", "runc"], False),
    "ubuntu-22.04": ("Debian", "apt", "package", ["containerd", "runc"], False),
    "ubuntu-24.04": ("Debian", "apt", "package", ["containerd", "runc"], False),
    "rhel-9": ("RedHat", "dnf", "archive", ["containerd.io"], True),
    "rocky-9": ("RedHat", "dnf", "archive", ["containerd.io"], True),
    "almalinux-8": ("RedHat", "dnf", "archive", ["containerd.io"], True),
    "almalinux-9": ("RedHat", "dnf", "archive", ["containerd.io"], True),
    "amazon-2": ("Amazon-2", "yum", "archive", ["containerd", "runc"], False),
    "amazon-2023": ("Amazon-2023", "dnf", "archive", ["containerd", "runc"], True),
}
UNSUPPORTED = {"sles-15.6"}
MIRROR = "http://mirror.example:8080/eks-distro/"


def load(path: Path) -> dict:
    return LOADER.load_from_file(str(path)) or {}


def facts(name: str) -> dict:
    data = json.loads((FACTS / f"{name}.json").read_text(encoding="utf-8"))
    data.pop("_source")
    return data


def preflight_vars(name: str, **extra) -> dict:
    variables = {"inventory_hostname": "node1", "groups": {}}
    variables.update(load(ROLES / "preflight" / "defaults" / "main.yml"))
    variables.update(load(ROLES / "preflight" / "vars" / "platforms.yml"))
    variables.update(load(ROLES / "preflight" / "vars" / "containerd_release.yml"))
    variables.update(facts(name))
    variables.update(extra)
    return variables


def render(variables: dict, expression: str):
    return Templar(loader=LOADER, variables=variables).template(expression)


def platform(name: str, **extra) -> dict:
    return render(preflight_vars(name, **extra), "{{ _preflight_platform }}")


def role_vars(role: str, eksd_platform: dict, **extra) -> dict:
    variables = {"eksd_platform": eksd_platform, "groups": {}, "eksd_release_info": {"images": {}}}
    variables.update(load(ROLES / role / "defaults" / "main.yml"))
    variables.update(load(ROLES / role / "vars" / "main.yml"))
    variables.update(extra)
    return variables


def test_every_fact_file_is_classified_and_cites_its_source():
    assert set(FACT_FILES) == set(SUPPORTED) | UNSUPPORTED
    for name in FACT_FILES:
        source = json.loads((FACTS / f"{name}.json").read_text(encoding="utf-8"))["_source"]
        assert source.startswith(("RECORDED", "CONSTRUCTED")), name


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_supported_os_is_accepted_with_its_decisions(name):
    key, pkg_mgr, method, packages, selinux = SUPPORTED[name]
    variables = preflight_vars(name)
    assert render(variables, "{{ _preflight_os_supported | bool }}") is True
    assert render(variables, "{{ ansible_architecture in preflight_supported_architectures }}") is True
    result = platform(name)
    assert result["name"] == key
    assert result["pkg_mgr"] == pkg_mgr == facts(name)["ansible_pkg_mgr"]
    assert result["containerd_install_method"] == method
    assert result["containerd_packages"] == packages
    assert result["selinux_enabled"] is selinux
    assert {"conntrack", "conntrack-tools"} & set(result["node_packages"])
    assert ("container-selinux" in result["node_packages"]) is (facts(name)["ansible_os_family"] == "RedHat")


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_os_is_refused_naming_it_and_listing_the_supported(name):
    variables = preflight_vars(name)
    assert render(variables, "{{ _preflight_os_supported | bool }}") is False
    assert render(variables, "{{ _preflight_platform_key }}") == ""
    message = render(variables, "{{ _preflight_os_refusal }}")
    assert message.startswith("node1 runs SLES 15.6 (os family Suse)")
    for os_name in ("Debian 12/13", "Ubuntu 22/24", "RedHat 8/9", "Rocky 8/9", "AlmaLinux 8/9", "Amazon 2/2023"):
        assert os_name in message


def test_unsupported_version_of_a_supported_distribution_is_refused():
    variables = preflight_vars("debian-12", ansible_distribution_major_version="11", ansible_distribution_version="11.9")
    assert render(variables, "{{ _preflight_os_supported | bool }}") is False
    assert "runs Debian 11.9" in render(variables, "{{ _preflight_os_refusal }}")


def test_the_debian_12_machine_itself_fails_the_systemd_check():
    """The development machine (a container without systemd) is Debian 12 but not a node."""
    assert facts("debian-12")["ansible_service_mgr"] != "systemd"
    assert facts("debian-12-lab")["ansible_service_mgr"] == "systemd"


def test_release_files_come_from_the_mirror_with_recorded_digests():
    release = load(ROLES / "preflight" / "vars" / "containerd_release.yml")["_preflight_containerd_release"]
    digests = {f"containerd-{release['containerd']}-linux-arm64.tar.gz": "a" * 128, "runc.arm64": "b" * 128}
    result = platform("almalinux-9", eksd_artifact_mirror=MIRROR,
                      _preflight_containerd_release=dict(release, sha512=digests))
    v = release["containerd"]
    assert result["containerd_archive"] == {
        "url": f"http://mirror.example:8080/eks-distro/containerd/v{v}/containerd-{v}-linux-arm64.tar.gz",
        "sha512": "a" * 128}
    assert result["containerd_runc_binary"] == {
        "url": f"http://mirror.example:8080/eks-distro/runc/v{release['runc']}/runc.arm64", "sha512": "b" * 128}


@pytest.mark.parametrize("name", ["rhel-9", "amazon-2023"])
def test_no_release_files_without_a_mirror(name):
    result = platform(name)
    assert result["containerd_archive"] == {} and result["containerd_runc_binary"] == {}


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_containerd_role_reads_the_platform(name):
    key, pkg_mgr, method, packages, selinux = SUPPORTED[name]
    variables = role_vars("containerd", platform(name), containerd_sandbox_image="public.ecr.aws/eks-distro/kubernetes/pause:test")
    assert render(variables, "{{ containerd_install_method }}") == method
    assert render(variables, "{{ containerd_packages or eksd_platform.containerd_packages }}") == packages
    cri = render(variables, "{{ _containerd_config }}")["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["enable_selinux"] is selinux


@pytest.mark.parametrize("kubernetes_version, needs_2", [
    ("v1.24.7", False), ("v1.35.6", False), ("v1.35.99-eks-1-35-13", False),
    ("v1.36.2", True), ("v1.36.0-eks-1-36-1", True), ("v1.37.0", True)])
@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_a_release_that_needs_containerd_2_takes_the_release_files_on_every_os(name, kubernetes_version, needs_2):
    """Kubernetes 1.35 is the last with containerd 1.x; the distributions' packages here are 1.6 and 1.7."""
    method, packages = SUPPORTED[name][2:4]
    result = platform(name, eksd_release_info={"kubernetes_version": kubernetes_version})
    assert result["containerd_needs_2"] is needs_2
    assert result["containerd_install_method"] == ("archive" if needs_2 else method)
    assert result["containerd_packages"] == packages  # what an archive host removes, what a package host installs


def test_no_release_resolved_keeps_the_os_entry():
    assert platform("debian-12")["containerd_install_method"] == "package"
    assert platform("debian-12")["containerd_needs_2"] is False


def test_containerd_inventory_choice_wins_over_the_platform():
    variables = role_vars("containerd", platform("rocky-9"), containerd_install_method="package")
    assert render(variables, "{{ containerd_install_method }}") == "package"


@pytest.mark.parametrize("name", sorted(SUPPORTED))
def test_node_prep_role_reads_the_platform(name):
    result = platform(name)
    variables = role_vars("node_prep", result)
    assert render(variables, "{{ _node_prep_pkg_mgr }}") == result["pkg_mgr"]
    assert render(variables, "{{ _node_prep_packages }}") == result["node_packages"]
    service = render(variables, "{{ _node_prep_chrony_service }}")
    assert service == ("chrony" if facts(name)["ansible_os_family"] == "Debian" else "chronyd")
