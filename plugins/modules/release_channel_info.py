#!/usr/bin/python
# ruff: noqa: EXE001 -- ansible-test wants this shebang on a module file that is not executable
# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: release_channel_info
short_description: List EKS Distro release channels, their releases and the latest release of each
version_added: 0.1.0
description:
  - Reads EKS Distro (EKS-D) C(ReleaseChannel) documents (C(apiVersion distro.eks.amazonaws.com/v1alpha1)),
    published at C(<base_url>/releasechannels/<channel>.yaml) by the EKS-D site and by a plain copy of it
    such as an artifact mirror, and returns for each channel whether it is active, its latest release
    number and name, the names of all its releases and the manifest URL of the latest one.
  - With O(channels), reads exactly those channels; a channel that is not published is an error.
  - Without O(channels), lists every channel published under the base URL by reading channels upward
    from C(1-18), EKS-D's first channel. Gaps are fine (a mirror may hold C(1-24), C(1-35) and C(1-36)
    only), and it stops after O(max_misses) channels in a row that are not published, counted from the last
    channel found, or from C(1-18) when none was found yet.
  - A channel's latest release changes whenever a release is published, so channels are read every time,
    never cached.
  - Never changes anything.
author:
  - eksd.distro maintainers (!UNKNOWN)
options:
  channels:
    description:
      - The channels to read, each written V(1-36), V(v1-36), V(kubernetes-1-36) or V(1.36)
        (Kubernetes minor version 1.36).
      - When not set or empty, every channel published under the base URL is listed (see O(max_misses)).
    type: list
    elements: str
  max_misses:
    description:
      - When O(channels) is not set, how many channels in a row may be missing (HTTP 404, or no such file)
        before listing stops, counted from the last channel found or, when none was found yet, from C(1-18).
      - Raise it for a mirror that holds only recent channels with a wider gap, or name O(channels).
      - It is an error when no channel at all is found.
    type: int
    default: 12
  base_url:
    description:
      - Base URL of the EKS-D site, or of a plain copy of it, under which C(releasechannels/<channel>.yaml)
        and the release manifests are found. An C(https://) URL, an C(http://) URL (needs O(allow_http)),
        a C(file://) URL or a local directory.
      - When not set, O(artifact_mirror) if that is set, else V(https://distro.eks.amazonaws.com);
        the same rule as the C(release) option of M(eksd.distro.release_info).
    type: str
  artifact_mirror:
    description:
      - Base URL of a mirror that is a plain copy of U(https://distro.eks.amazonaws.com), for example
        V(http://10.0.0.1:8080/eksd); channels are read from it when O(base_url) is not set.
    type: str
  validate_certs:
    description:
      - Whether to verify TLS certificates when reading over https.
    type: bool
    default: true
  allow_http:
    description:
      - Accept plain C(http://) URLs; meant for a mirror on a trusted network.
    type: bool
    default: false
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
  - The C(release) option of M(eksd.distro.release_info) and of the C(eksd.distro.artifact) and C(eksd.distro.image)
    lookups accepts a channel too, and then resolves that channel's latest release the same way.
  - The site publishes C(status.latestRelease) as the newest release number of the channel; releases are
    numbered from 1 without gaps, so RV(channels[].releases) lists them all.
seealso:
  - module: eksd.distro.release_info
  - name: EKS Distro releases
    description: Release channels, release manifests and their changelogs.
    link: https://distro.eks.amazonaws.com/
"""

EXAMPLES = r"""
- name: The latest release of channel 1-36 on the EKS-D site
  eksd.distro.release_channel_info:
    channels: ["1-36"]
  delegate_to: localhost
  run_once: true
  register: __eksd_channels

- name: Show it
  ansible.builtin.debug:
    msg: "{{ __eksd_channels.channels[0].latest_release_name }}"

- name: Every channel an air-gapped mirror holds
  eksd.distro.release_channel_info:
    artifact_mirror: http://10.0.0.1:8080/eksd
    allow_http: true
  delegate_to: localhost
  run_once: true
  register: __eksd_channels

- name: The active channels, newest first
  ansible.builtin.debug:
    msg: "{{ __eksd_channels.channels | selectattr('active') | map(attribute='channel') | reverse | list }}"
"""

RETURN = r"""
base_url:
  description: The base URL the channels were read under (O(base_url), else O(artifact_mirror), else the EKS-D site).
  returned: success
  type: str
  sample: https://distro.eks.amazonaws.com
channels:
  description:
    - One entry per channel, in the order of O(channels), or, when listing, oldest channel first.
  returned: success
  type: list
  elements: dict
  contains:
    channel:
      description: The channel id (C(metadata.name)).
      type: str
      returned: success
      sample: "1-36"
    active:
      description: Whether the channel still receives releases (C(status.active)).
      type: bool
      returned: success
      sample: true
    latest_release:
      description: The number of the channel's newest release (C(status.latestRelease)).
      type: int
      returned: success
      sample: 7
    latest_release_name:
      description: The name of the channel's newest release, as M(eksd.distro.release_info) returns it.
      type: str
      returned: success
      sample: kubernetes-1-36-eks-7
    releases:
      description: The names of the channel's releases, number 1 to the latest, oldest first.
      type: list
      elements: str
      returned: success
      sample: [kubernetes-1-36-eks-1, kubernetes-1-36-eks-2]
    manifest_url:
      description: The manifest URL of the latest release, under RV(base_url).
      type: str
      returned: success
      sample: https://distro.eks.amazonaws.com/kubernetes-1-36/kubernetes-1-36-eks-7.yaml
    channel_url:
      description: The ReleaseChannel document that was read.
      type: str
      returned: success
      sample: https://distro.eks.amazonaws.com/releasechannels/1-36.yaml
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible_collections.eksd.distro.plugins.module_utils._fetch import (
    DEFAULT_MAX_MISSES,
    base_location,
    load_release_channel,
    probe_release_channels,
)
from ansible_collections.eksd.distro.plugins.module_utils._manifest import (
    HAS_YAML,
    YAML_IMPORT_ERROR,
    ManifestError,
    channel_facts,
    normalize_artifact_mirror,
    parse_channel_id,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "channels": {"type": "list", "elements": "str"},
            "max_misses": {"type": "int", "default": DEFAULT_MAX_MISSES},
            "base_url": {"type": "str"},
            "artifact_mirror": {"type": "str"},
            "validate_certs": {"type": "bool", "default": True},
            "allow_http": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    if not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=str(YAML_IMPORT_ERROR))
    params = module.params
    try:
        mirror = normalize_artifact_mirror(params["artifact_mirror"], params["allow_http"])
        base = base_location({"base_url": params["base_url"], "artifact_mirror": mirror}).rstrip("/")
        fetch = {"validate_certs": params["validate_certs"], "allow_http": params["allow_http"]}
        if params["channels"]:
            wanted = []
            for text in params["channels"]:
                channel = parse_channel_id(text)
                if channel not in wanted:
                    wanted.append(channel)
            found = [load_release_channel(channel, base, **fetch) for channel in wanted]
        else:
            found = probe_release_channels(base, max_misses=params["max_misses"], **fetch)
    except ManifestError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, base_url=base, channels=[channel_facts(channel, base) for channel in found])


if __name__ == "__main__":
    main()
