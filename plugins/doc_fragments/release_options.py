# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Options shared by eksd.distro.release_info and the eksd.distro.artifact/image lookups.

They match RELEASE_ARGUMENT_SPEC in plugins/module_utils/_fetch.py; change both together.
"""

from __future__ import annotations


class ModuleDocFragment:
    DOCUMENTATION = r"""
options:
  release:
    description:
      - The EKS-D release, written V(1-24-9), V(v1-24-eks-9) or V(kubernetes-1-24-eks-9)
        (channel C(1-24), release number C(9)).
      - Or a release channel, written V(1-36), V(v1-36), V(kubernetes-1-36) or V(1.36), which means the channel's
        latest release at the time of the call. Its C(ReleaseChannel) document is read from
        C(<base_url>/releasechannels/<channel>.yaml) (never cached, it changes with every release) and its
        C(status.latestRelease) is the release number. The returned C(latest_of_channel) then names the channel.
        Two calls may resolve different releases if one is published in between; resolve once and reuse the result.
      - The manifest URL is derived from the release as
        C(<base_url>/kubernetes-<channel>/kubernetes-<channel>-eks-<number>.yaml).
      - When O(manifest) is set too, the manifest read must be this release (for a channel, a release of that
        channel; the ReleaseChannel is then not read).
      - One of O(release) and O(manifest) is required.
    type: str
  manifest:
    description:
      - The Release manifest to read instead of the derived one, as an C(https://) URL, an C(http://) URL
        (needs O(allow_http)), a C(file://) URL or a local path.
      - A local path is read where the plugin runs (the module runs on the managed host unless delegated).
      - When not set, derived from O(release) and O(base_url).
    type: str
  base_url:
    description:
      - Base URL of the EKS-D site, or of a plain copy of it, under which the manifest of O(release) is found
        (and, when O(release) is a channel, its C(releasechannels/<channel>.yaml)).
      - When not set, O(artifact_mirror) if that is set (an air-gapped user has only the mirror),
        else V(https://distro.eks.amazonaws.com).
      - Not used when O(manifest) is set.
    type: str
  artifact_mirror:
    description:
      - Base URL of a mirror that is a plain copy of U(https://distro.eks.amazonaws.com),
        for example V(https://mirror.example.com) or V(http://10.0.0.1:8080/eksd) (a path prefix is kept).
      - Every artifact URL is moved onto it, keeping its path below the host, so
        C(https://distro.eks.amazonaws.com/kubernetes-1-24/releases/9/artifacts/...) becomes
        C(http://10.0.0.1:8080/eksd/kubernetes-1-24/releases/9/artifacts/...).
      - When not set, artifact URLs are returned as the manifest has them.
    type: str
  image_mirror:
    description:
      - Registry that mirrors the release's images, as C(host[:port][/path]) without a scheme,
        for example V(10.88.0.1:5000).
      - The registry host of every image is replaced by it and the repository path is kept, so
        C(public.ecr.aws/eks-distro/kubernetes/pause:v1.24.10-eks-1-24-9) becomes
        C(10.88.0.1:5000/eks-distro/kubernetes/pause:v1.24.10-eks-1-24-9). This applies to every registry
        the manifest names, C(public.ecr.aws/csi-components) included.
      - When not set, image references are returned as the manifest has them.
    type: str
  arch:
    description:
      - CPU architecture whose artifacts and images are selected.
      - It is an error when the manifest has no artifact for O(os)/O(arch).
    type: str
    choices: [amd64, arm64]
    default: amd64
  os:
    description:
      - Operating system whose artifacts are selected. Images are all C(linux).
    type: str
    choices: [linux, windows, darwin]
    default: linux
  validate_certs:
    description:
      - Whether to verify TLS certificates when fetching the manifest over https.
    type: bool
    default: true
  cache_dir:
    description:
      - Directory in which a manifest fetched over http(s) is kept, one file per URL, so that it is fetched
        only once; later runs read it from there without network access.
      - A manifest is stored only after it was parsed and validated, so nothing from a bad manifest is cached.
        A published release manifest does not change, so cached files are never refreshed; delete them to refetch.
      - Not set by default, which means no cache. V(~/.cache/eksd/manifests) is a good value on the controller.
      - The directory is created when missing. Writing the cache does not count as a change.
    type: path
  allow_http:
    description:
      - Accept plain C(http://) for the manifest URL, the release channel URL and for artifact URLs (after moving them onto
        O(artifact_mirror)); meant for a mirror on a trusted network.
      - When V(false), such URLs are an error. Downloads are still verified against the manifest's digests,
        but a manifest fetched over plain http can be tampered with on the way.
    type: bool
    default: false
"""

    # Lookups only: a release that release_info already resolved.
    RELEASE_DATA = r"""
options:
  release_data:
    description:
      - A release already resolved by M(eksd.distro.release_info), either its RV(eksd.distro.release_info#module:release)
        return value, or the whole registered result.
      - When set, nothing is fetched and all other options are ignored; the release's own arch, os and mirrors apply.
    type: dict
"""
