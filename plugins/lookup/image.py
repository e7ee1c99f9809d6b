# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: image
short_description: Container image references of an EKS Distro release
version_added: 0.1.0
description:
  - Returns, for each term, the image reference that an EKS Distro (EKS-D) release manifest gives for it,
    with the registry moved onto O(image_mirror) when that is set.
  - A term is an image asset name (C(coredns-image), C(kube-proxy-image), C(csi-snapshotter-image)) or a name
    with one image, such as a component (C(coredns), C(etcd)) or an image of component C(kubernetes)
    (C(pause), C(kube-apiserver), C(kube-proxy)). C(kube-proxy) is found both in manifests where it belongs to
    component C(kubernetes) and in those (since 2025-09) where it is a component of its own.
  - Pass O(release_data), the RV(eksd.distro.release_info#module:release) returned by M(eksd.distro.release_info),
    to avoid fetching the manifest again; otherwise the manifest is read from the other options.
  - Only images that list O(arch) are found.
author:
  - eksd.distro maintainers (!UNKNOWN)
extends_documentation_fragment:
  - eksd.distro.release_options
  - eksd.distro.release_options.release_data
options:
  _terms:
    description:
      - Image asset names (C(coredns-image)) or names with a single image (C(coredns), C(pause), C(kube-proxy)).
      - A component with several images, such as C(external-snapshotter), is an error; name the asset instead.
    type: list
    elements: str
    required: true
seealso:
  - module: eksd.distro.release_info
  - plugin: eksd.distro.artifact
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Resolve the release once, on the controller
  eksd.distro.release_info:
    release: 1-20-1
    image_mirror: 10.88.0.1:5000
  delegate_to: localhost
  run_once: true
  register: __eksd_release

- name: Sandbox image for containerd
  ansible.builtin.debug:
    msg: "{{ lookup('eksd.distro.image', 'pause', release_data=__eksd_release.release) }}"

- name: Images for kube-proxy and CoreDNS, straight from the manifest
  ansible.builtin.debug:
    msg: "{{ query('eksd.distro.image', 'kube-proxy', 'coredns-image', release='1-20-1', image_mirror='10.88.0.1:5000') }}"
"""

RETURN = r"""
_raw:
  description: One image reference per term, in the order of the terms.
  type: list
  elements: str
  sample:
    - 10.88.0.1:5000/eks-distro/kubernetes/pause:v1.20.4-eks-1-20-1
    - public.ecr.aws/eks-distro/coredns/coredns:v1.8.3-eks-1-20-1
"""

from ansible_collections.eksd.distro.plugins.module_utils._manifest import find_image
from ansible_collections.eksd.distro.plugins.plugin_utils._release_lookup import ReleaseLookupBase


class LookupModule(ReleaseLookupBase):
    find = staticmethod(find_image)
