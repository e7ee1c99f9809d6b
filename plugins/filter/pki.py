# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters of the pki role: adopting a cluster's PKI into the controller's PKI directory (tasks_from: adopt),
and rendering a kubeconfig from that directory's certificates (every kubeconfig the collection writes).

They run on the controller: the paths they read are in the controller's PKI directory.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

import yaml
from ansible.errors import AnsibleFilterError


def _files(item: dict) -> list[str]:
    """The PKI directory files one cluster file stands for: a kubeconfig, or a PEM file holding both (as haproxy
    reads a client certificate), carries a certificate and its key."""
    dest = item["dest"]
    return [dest + ".crt", dest + ".key"] if item.get("kubeconfig") or item.get("pem") else [dest]


def pki_existing(names, pki_dir):
    """The names (paths relative to pki_dir) that are files in pki_dir."""
    return [name for name in names if os.path.isfile(os.path.join(pki_dir, name))]


def pki_keyless(names, pki_dir):
    """The certificates or public keys (ca.crt, sa.pub, ...) in pki_dir whose private key (.key) is not there."""
    keyless = []
    for name in pki_existing(names, pki_dir):
        stem, _ext = os.path.splitext(name)
        if not os.path.isfile(os.path.join(pki_dir, stem + ".key")):
            keyless.append(name)
    return keyless


def pki_adoptable(items, pki_dir):
    """The cluster files ({src, dest, kubeconfig}) that stand for at least one file pki_dir lacks."""
    items = list(items or [])
    if not all(isinstance(i, dict) and "dest" in i for i in items):
        raise AnsibleFilterError("pki_adoptable: the input must be a list of dicts with src and dest")
    return [i for i in items if any(not os.path.isfile(os.path.join(pki_dir, f)) for f in _files(i))]


def _decode(text: str, what: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise AnsibleFilterError(f"pki_adopted_files: {what} is not base64-encoded PEM") from exc


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)


def _split_pem(text: str, src: str) -> dict[str, str]:
    """A PEM file holding certificates and one private key -> {'.crt': certificates, '.key': key}."""
    blocks = [(match.group(1), match.group(0)) for match in _PEM_BLOCK.finditer(text)]
    certs = [pem for label, pem in blocks if label == "CERTIFICATE"]
    keys = [pem for label, pem in blocks if label.endswith("PRIVATE KEY")]
    if not certs or len(keys) != 1:
        raise AnsibleFilterError(f"pki_adopted_files: {src} must hold a certificate and one private key in PEM; "
                                 f"found {len(certs)} certificate(s) and {len(keys)} private key(s)")
    return {".crt": "\n".join(certs) + "\n", ".key": keys[0] + "\n"}


def pki_adopted_files(results):
    """Slurp results (item: {src, dest, kubeconfig, pem}) -> [{dest, content, mode}] to write into pki_dir.

    A kubeconfig gives its user's client certificate and key (<dest>.crt, <dest>.key), a PEM file (pem: true)
    the certificates and the key it holds; each ends in a newline like the files the pki role writes. Error
    messages name the file, never its content.
    """
    files = []
    for result in results or []:
        if not isinstance(result, dict) or "content" not in result or "item" not in result:
            continue  # skipped
        item = result["item"]
        text = _decode(result["content"], item["src"])
        if item.get("kubeconfig"):
            try:
                users = (yaml.safe_load(text) or {}).get("users") or []
                user = users[0]["user"]
                pems = {".crt": user["client-certificate-data"], ".key": user["client-key-data"]}
            except (yaml.YAMLError, AttributeError, IndexError, KeyError, TypeError) as exc:
                raise AnsibleFilterError(
                    f"pki_adopted_files: {item['src']} has no user with client-certificate-data and client-key-data") from exc
            for ext, data in pems.items():
                pem = _decode(data, f"{item['src']} client-{'certificate' if ext == '.crt' else 'key'}-data")
                files.append({"dest": item["dest"] + ext, "content": pem if pem.endswith("\n") else pem + "\n",
                              "mode": "0600" if ext == ".key" else "0644"})
        elif item.get("pem"):
            files.extend({"dest": item["dest"] + ext, "content": pem, "mode": "0600" if ext == ".key" else "0644"}
                         for ext, pem in _split_pem(text, item["src"]).items())
        else:
            files.append({"dest": item["dest"], "content": text, "mode": "0600" if item["dest"].endswith(".key") else "0644"})
    return files


def _pem_data(pki_dir: str, name: str) -> str:
    """A PEM file of pki_dir as kubeconfig *-data: base64 of its text without trailing whitespace (as the file
    lookup reads it, so kubeconfigs written before this filter existed compare equal)."""
    path = os.path.join(pki_dir, name)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not text"
        raise AnsibleFilterError(f"kubeconfig: {path} cannot be read ({reason}); the pki role writes it") from exc
    return base64.b64encode(text.rstrip().encode("utf-8")).decode("ascii")


def kubeconfig(credential, pki_dir, cluster, server, user):
    """The kubeconfig (YAML text) for the client certificate <credential>.crt/.key of pki_dir, trusting its
    ca.crt, for one cluster, server and user; the context is <user>@<cluster>. Errors name files, never content."""
    for name, value in (("credential", credential), ("cluster", cluster), ("server", server), ("user", user)):
        if not isinstance(value, str) or not value:
            raise AnsibleFilterError(f"kubeconfig: {name} must be a non-empty string, got {value!r}")
    # Plain str: yaml.safe_dump refuses str subclasses such as Ansible's unsafe text.
    credential, cluster, server, user = (str.__str__(value) for value in (credential, cluster, server, user))
    context = f"{user}@{cluster}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server, "certificate-authority-data": _pem_data(pki_dir, "ca.crt")}}],
        "users": [{"name": user, "user": {"client-certificate-data": _pem_data(pki_dir, credential + ".crt"),
                                          "client-key-data": _pem_data(pki_dir, credential + ".key")}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user}}],
        "current-context": context,
    }
    # the layout of to_nice_yaml(indent=2), which wrote these files before: an unchanged file restarts nothing
    return yaml.safe_dump(config, indent=2, allow_unicode=True, default_flow_style=False)


class FilterModule:
    def filters(self):
        return {"pki_existing": pki_existing, "pki_keyless": pki_keyless, "pki_adoptable": pki_adoptable, "pki_adopted_files": pki_adopted_files,
                "kubeconfig": kubeconfig}
