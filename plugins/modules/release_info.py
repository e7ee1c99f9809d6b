#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a module file that is not executable
# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_info
short_description: Resolve an EKS Distro release into its versions, artifact URLs, digests and images
version_added: 0.1.0
description:
  - Reads an EKS Distro (EKS-D) C(Release) manifest (C(apiVersion distro.eks.amazonaws.com/v1alpha1)), validates it
    and returns, for one OS and CPU architecture, the component versions, every archive artifact with its URL and
    digests, and every container image.
  - Artifact URLs and image references can be moved onto mirrors for air-gapped installs.
  - O(release) may name a channel (V(1-36)) instead of a release; the channel's latest release is then resolved
    from its C(ReleaseChannel) document, as M(eksd.distro.release_channel_info) reads it.
  - Reads every manifest layout published since 2020 (components in any order, C(kube-proxy) as its own component,
    images with or without C(imageDigest), CSI images in C(public.ecr.aws/csi-components)).
  - Runs wherever it is sent; to resolve a release once for a whole play, run it on the controller
    with C(delegate_to=localhost) and C(run_once=true).
  - Never changes anything.
author:
  - eksd.distro maintainers (!UNKNOWN)
extends_documentation_fragment:
  - eksd.distro.release_options
attributes:
  check_mode:
    description: Can run in check_mode and return the same result as without it.
    support: full
  diff_mode:
    description: Returns no diff; it changes nothing.
    support: none
requirements:
  - PyYAML (where the module runs)
notes:
  - The C(eksd.distro.artifact) and C(eksd.distro.image) lookups take the returned RV(release) as their
    C(release_data) option, so they need not fetch the manifest again.
seealso:
  - module: eksd.distro.release_channel_info
  - plugin: eksd.distro.artifact
    plugin_type: lookup
  - plugin: eksd.distro.image
    plugin_type: lookup
  - name: EKS Distro releases
    description: Release manifests and their changelogs.
    link: https://distro.eks.amazonaws.com/
"""

EXAMPLES = r"""
- name: Resolve EKS-D 1.24 release 9 for amd64 on the controller
  eksd.distro.release_info:
    release: 1-24-9
    arch: amd64
    cache_dir: ~/.cache/eksd/manifests
  delegate_to: localhost
  run_once: true
  register: __eksd_release

- name: Resolve the latest release of channel 1-36 (read from the channel's ReleaseChannel)
  eksd.distro.release_info:
    release: "1-36"
  delegate_to: localhost
  run_once: true
  register: __eksd_latest

- name: Show which release that is
  ansible.builtin.debug:
    msg: "{{ __eksd_latest.release.name }} (latest of channel {{ __eksd_latest.release.latest_of_channel }})"

- name: Show the etcd tarball URL and its sha512
  ansible.builtin.debug:
    msg: >-
      {{ __eksd_release.release.artifacts[item].url }}
      {{ __eksd_release.release.artifacts[item].sha512 }}
  loop: "{{ __eksd_release.release.artifacts | list | select('match', '^etcd-linux-') }}"

- name: Resolve from an air-gapped mirror (the manifest is fetched from the mirror too)
  eksd.distro.release_info:
    release: v1-24-eks-9
    arch: arm64
    artifact_mirror: http://10.0.0.1:8080/eksd
    image_mirror: 10.88.0.1:5000
    allow_http: true
  delegate_to: localhost
  run_once: true
  register: __eksd_release

- name: Read a manifest kept next to the playbook
  eksd.distro.release_info:
    manifest: "{{ playbook_dir }}/files/kubernetes-1-20-eks-1.yaml"
  delegate_to: localhost
  register: __eksd_release
"""

RETURN = r"""
release:
  description: The release, with the artifacts and images of O(os)/O(arch).
  returned: success
  type: dict
  contains:
    name:
      description: Release name, the manifest's C(metadata.name).
      type: str
      returned: success
      sample: kubernetes-1-24-eks-9
    requested:
      description: The O(release) option as given (a release or a channel); null when only O(manifest) was set.
      type: str
      returned: success
      sample: "1-36"
    latest_of_channel:
      description:
        - When O(release) named a channel (and O(manifest) was not set), that channel, whose latest release
          this is (its C(status.latestRelease) at the time of the call); otherwise null.
      type: str
      returned: success
      sample: "1-36"
    channel:
      description: Release channel (C(spec.channel)).
      type: str
      returned: success
      sample: "1-24"
    number:
      description: Release number within the channel (C(spec.number)).
      type: int
      returned: success
      sample: 9
    kubernetes_version:
      description: Kubernetes version, the C(gitTag) of component C(kubernetes).
      type: str
      returned: success
      sample: v1.24.10
    date:
      description: Build date (C(status.date)), RFC 3339; null when the manifest has none.
      type: str
      returned: success
      sample: "2021-05-18T15:19:01Z"
    manifest_url:
      description: The manifest URL or path that was read.
      type: str
      returned: success
      sample: https://distro.eks.amazonaws.com/kubernetes-1-24/kubernetes-1-24-eks-9.yaml
    manifest_file:
      description:
        - A file on the controller holding the manifest exactly as it was read and validated (the file
          O(manifest) names, or the copy in O(cache_dir) of a manifest fetched over http(s)).
        - Null for an http(s) manifest read without O(cache_dir).
        - Later steps read the manifest from here instead of fetching it again.
      type: str
      returned: success
      sample: /home/user/.cache/eksd/manifests/9f0c5c0f1f5f8a1c3d7b2e4a6b8c0d2e4f6a8b0c2d4e6f8a0b2c4d6e8f0a2b4c.yaml
    arch:
      description: The CPU architecture selected (O(arch)).
      type: str
      returned: success
      sample: amd64
    os:
      description: The operating system selected (O(os)).
      type: str
      returned: success
      sample: linux
    components:
      description:
        - Every component of the release, by name.
        - C(version) is the component's C(gitTag); C(images) lists the names of its image assets
          for O(arch) (keys of RV(release.images)).
      type: dict
      returned: success
      sample:
        cni-plugins:
          version: v0.8.7
          images: []
        etcd:
          version: v3.4.15
          images: [etcd-image]
    artifacts:
      description:
        - The C(Archive) assets of O(os)/O(arch), by the manifest's asset name (for example
          C(bin/linux/amd64/kubelet) or C(etcd-linux-amd64-v3.4.15.tar.gz)).
        - C(url) is moved onto O(artifact_mirror) when that is set; C(sha256) and C(sha512) are lower-case hex;
          C(component) names the component the asset belongs to.
        - The source tarball C(kubernetes-src.tar.gz), which has no OS or architecture, is not included.
      type: dict
      returned: success
      sample:
        bin/linux/amd64/kubelet:
          url: https://distro.eks.amazonaws.com/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/bin/linux/amd64/kubelet
          sha256: 5504389ba69fe688c5d4487672259ee027b3c3b5c516f9f678024b8f7b89f151
          sha512: 534e73089ca48d24010259c94bc86ade0bc40f97eae373101872057f73ec9acf9dda1e8b7b68f750d399e37f70b2e80e2d1b37c035a65e4835777196d2486035
          component: kubernetes
    images:
      description:
        - The C(Image) assets that list O(arch), by asset name (for example C(coredns-image), C(pause-image)),
          each an image reference moved onto O(image_mirror) when that is set.
      type: dict
      returned: success
      sample:
        coredns-image: public.ecr.aws/eks-distro/coredns/coredns:v1.8.3-eks-1-20-1
        pause-image: public.ecr.aws/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1
    image_digests:
      description:
        - The C(imageDigest) (C(sha256:<hex>)) of each image in RV(release.images) whose manifest entry has one,
          by asset name.
        - Empty for manifests built before 2021-10, which carry no digests.
      type: dict
      returned: success
      sample: {}
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.eksd.distro.plugins.module_utils._fetch import (
    RELEASE_ARGUMENT_SPEC,
    resolve_release,
)
from ansible_collections.eksd.distro.plugins.module_utils._manifest import (
    HAS_YAML,
    YAML_IMPORT_ERROR,
    ManifestError,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=RELEASE_ARGUMENT_SPEC,
        required_one_of=[("release", "manifest")],
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
    try:
        release = resolve_release(module.params)
    except ManifestError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, release=release)


if __name__ == "__main__":
    main()
