# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: artifact
short_description: URL and digests of EKS Distro release artifacts
version_added: 0.1.0
description:
  - Returns, for each asset name of an EKS Distro (EKS-D) release manifest, the artifact's URL (moved onto
    O(artifact_mirror) when set), its sha256 and sha512 digests, its component, and a C(checksum) ready for
    the C(checksum) option of M(ansible.builtin.get_url).
  - Pass O(release_data), the RV(eksd.distro.release_info#module:release) returned by M(eksd.distro.release_info),
    to avoid fetching the manifest again; otherwise the manifest is read from the other options.
  - Runs on the controller; a local O(manifest) path is read there.
author:
  - eksd.distro maintainers (!UNKNOWN)
extends_documentation_fragment:
  - eksd.distro.release_options
  - eksd.distro.release_options.release_data
options:
  _terms:
    description:
      - Asset names as the manifest writes them, for example C(bin/linux/amd64/kubelet),
        C(etcd-linux-amd64-v3.4.15.tar.gz) or C(kubernetes-server-linux-amd64.tar.gz).
      - Only the C(Archive) assets of O(os)/O(arch) are found.
    type: list
    elements: str
    required: true
seealso:
  - module: eksd.distro.release_info
  - plugin: eksd.distro.image
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Resolve the release once, on the controller
  eksd.distro.release_info:
    release: 1-20-1
  delegate_to: localhost
  run_once: true
  register: __eksd_release

- name: Download the kubelet binary, verified against the manifest
  vars:
    kubelet: "{{ lookup('eksd.distro.artifact', 'bin/linux/amd64/kubelet', release_data=__eksd_release.release) }}"
  ansible.builtin.get_url:
    url: "{{ kubelet.url }}"
    checksum: "{{ kubelet.checksum }}"
    dest: /usr/local/bin/kubelet
    mode: "0755"

- name: Resolve straight from a mirror, without release_info
  ansible.builtin.debug:
    msg: >-
      {{ lookup('eksd.distro.artifact', 'etcd-linux-arm64-v3.4.15.tar.gz', release='1-20-1', arch='arm64',
                artifact_mirror='https://mirror.example.com/eksd') }}

- name: Several artifacts at once
  ansible.builtin.debug:
    msg: "{{ item.url }}"
  loop: "{{ query('eksd.distro.artifact', 'bin/linux/amd64/kubeadm', 'bin/linux/amd64/kubectl',
                  release_data=__eksd_release.release) }}"
"""

RETURN = r"""
_raw:
  description: One dict per term, in the order of the terms.
  type: list
  elements: dict
  contains:
    url:
      description: Download URL, moved onto O(artifact_mirror) when that is set.
      type: str
      sample: https://distro.eks.amazonaws.com/kubernetes-1-20/releases/1/artifacts/kubernetes/v1.20.4/bin/linux/amd64/kubelet
    checksum:
      description: C(sha512:<hex>), for the C(checksum) option of M(ansible.builtin.get_url).
      type: str
      sample: sha512:534e73089ca48d24010259c94bc86ade0bc40f97eae373101872057f73ec9acf9dda1e8b7b68f750d399e37f70b2e80e2d1b37c035a65e4835777196d2486035
    sha256:
      description: SHA-256 of the artifact, lower-case hex.
      type: str
      sample: 5504389ba69fe688c5d4487672259ee027b3c3b5c516f9f678024b8f7b89f151
    sha512:
      description: SHA-512 of the artifact, lower-case hex.
      type: str
      sample: 534e73089ca48d24010259c94bc86ade0bc40f97eae373101872057f73ec9acf9dda1e8b7b68f750d399e37f70b2e80e2d1b37c035a65e4835777196d2486035
    component:
      description: Name of the component the artifact belongs to.
      type: str
      sample: kubernetes
"""

from ansible_collections.eksd.distro.plugins.module_utils._manifest import find_artifact
from ansible_collections.eksd.distro.plugins.plugin_utils._release_lookup import ReleaseLookupBase


class LookupModule(ReleaseLookupBase):
    find = staticmethod(find_artifact)
