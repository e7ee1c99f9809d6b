# Copyright (c) eksd.distro contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Which of the pki role's certificates need work, decided in one pass on the controller.

The pki role creates each certificate with three community.crypto modules (key, signing request,
certificate) and reads its expiry with a fourth, one call per certificate each. On a run that changes
nothing they all report ok. This filter reads the same files once and returns only the entries whose
files the modules could change; the role loops over those. It errs towards work: anything it cannot
prove current (a missing or unreadable file, another mode, another name, another CA, a key of another
type) makes the entry due, and then the modules decide as before.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat

from ansible.errors import AnsibleFilterError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
except ImportError:  # pragma: no cover - community.crypto needs it on the controller anyway
    x509 = None

_USAGE_OIDS = {
    "clientAuth": "CLIENT_AUTH",
    "serverAuth": "SERVER_AUTH",
}


def _mode_is(path: str, mode: int) -> bool:
    return stat.S_IMODE(os.stat(path).st_mode) == mode


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def _public_der(holder) -> bytes:
    """The DER public key of a certificate, a signing request or a private key."""
    return holder.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _key_fits(key, key_type: str, key_size: int) -> bool:
    if key_type == "RSA":
        return isinstance(key, rsa.RSAPrivateKey) and key.key_size == int(key_size)
    if key_type == "ECC":
        return isinstance(key, ec.EllipticCurvePrivateKey)
    return False


def _names(subject) -> set:
    return {(attr.oid.dotted_string, attr.value) for attr in subject}


def _wanted_names(item: dict) -> set:
    names = {(NameOID.COMMON_NAME.dotted_string, item["cn"])}
    if item.get("o"):
        names.add((NameOID.ORGANIZATION_NAME.dotted_string, item["o"]))
    return names


def _san_text(name) -> str | None:
    if isinstance(name, x509.DNSName):
        return "DNS:" + name.value
    if isinstance(name, x509.IPAddress):
        return "IP:" + str(name.value)
    if isinstance(name, x509.UniformResourceIdentifier):
        return "URI:" + name.value
    if isinstance(name, x509.RFC822Name):
        return "email:" + name.value
    return None


def _wanted_san(entry: str) -> str | None:
    kind, _sep, value = str(entry).partition(":")
    if kind == "IP":
        try:
            return "IP:" + str(ipaddress.ip_address(value))
        except ValueError:
            return None
    if kind in ("DNS", "URI", "email"):
        return f"{kind}:{value}"
    return None  # another form: let the modules decide


def _extension(obj, oid):
    try:
        return obj.extensions.get_extension_for_oid(oid)
    except x509.ExtensionNotFound:
        return None


def _extensions_fit(obj, item: dict, usages: dict, authority: bool) -> bool:
    """The extensions the pki role asks openssl_csr for, and nothing else of them."""
    wanted_sans = [_wanted_san(s) for s in item.get("sans") or []]
    if None in wanted_sans:
        return False
    san = _extension(obj, x509.oid.ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    present = {_san_text(n) for n in san.value} if san else set()
    if present != set(wanted_sans):
        return False
    basic = _extension(obj, x509.oid.ExtensionOID.BASIC_CONSTRAINTS)
    if basic is None or basic.value.ca != authority or (authority and not basic.critical):
        return False
    key_usage = _extension(obj, x509.oid.ExtensionOID.KEY_USAGE)
    if key_usage is None or not key_usage.critical:
        return False
    ku = key_usage.value
    if not (ku.digital_signature and ku.key_encipherment) or ku.content_commitment or ku.data_encipherment or ku.key_agreement:
        return False
    if ku.key_cert_sign != authority or ku.crl_sign != authority:
        return False
    eku = _extension(obj, x509.oid.ExtensionOID.EXTENDED_KEY_USAGE)
    if authority:
        return eku is None
    try:
        wanted_eku = {getattr(ExtendedKeyUsageOID, _USAGE_OIDS[u]) for u in usages[item["usage"]]}
    except KeyError:
        return False
    return eku is not None and set(eku.value) == wanted_eku


def _current(item: dict, pki_dir: str, usages: dict, key_type: str, key_size: int, horizon, ca_cache: dict,
             authority: bool = False) -> bool:
    base = os.path.join(pki_dir, item["name"])
    key_pem, csr_pem, crt_pem = _read(base + ".key"), _read(base + ".csr"), _read(base + ".crt")
    if key_pem is None or csr_pem is None or crt_pem is None:
        return False
    if not (_mode_is(base + ".key", 0o600) and _mode_is(base + ".csr", 0o644) and _mode_is(base + ".crt", 0o644)):
        return False
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        csr = x509.load_pem_x509_csr(csr_pem)
        crt = x509.load_pem_x509_certificate(crt_pem)
    except (ValueError, TypeError):
        return False
    if not _key_fits(key, key_type, key_size):
        return False
    public = _public_der(key)
    if _public_der(csr) != public or _public_der(crt) != public:
        return False
    wanted = _wanted_names(item)
    if _names(csr.subject) != wanted or _names(crt.subject) != wanted:
        return False
    if not (_extensions_fit(csr, item, usages, authority) and _extensions_fit(crt, item, usages, authority)):
        return False
    ca = crt if authority else ca_cache.get(item["ca"])
    if ca is None:
        try:
            ca = x509.load_pem_x509_certificate(_read(os.path.join(pki_dir, item["ca"] + ".crt")) or b"")
        except ValueError:
            return False
        ca_cache[item["ca"]] = ca
    try:
        crt.verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return horizon is None or crt.not_valid_after_utc > horizon


def pki_certs_due(certs, pki_dir, usages, key_type="RSA", key_size=2048, renew_within_days=0, renew_all=False):
    """The entries of certs ({name, ca, cn, o, sans, usage}) whose files in pki_dir the pki role must write."""
    if x509 is None:
        raise AnsibleFilterError("pki_certs_due: the Python package cryptography is missing on the controller")
    certs = list(certs or [])
    if not all(isinstance(c, dict) and {"name", "ca", "cn", "usage"} <= c.keys() for c in certs):
        raise AnsibleFilterError("pki_certs_due: the input must be a list of dicts with name, ca, cn and usage")
    if renew_all:
        return certs
    days = int(renew_within_days or 0)
    horizon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days) if days > 0 else None
    ca_cache: dict = {}
    return [c for c in certs if not _current(c, pki_dir, usages, key_type, key_size, horizon, ca_cache)]


def pki_bundle(files, pki_dir, dest_dir, owner=None):
    """PKI directory files -> eksd.distro.file_bundle entries under dest_dir: keys 0600, the rest 0644.

    files is a list of {src: path in pki_dir, dest: path under dest_dir}. A list, not a dict: Ansible does not
    template a YAML mapping's keys, so a dict keyed by "nodes/{{ inventory_hostname }}/..." would reach this
    filter untemplated.
    """
    if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
        raise AnsibleFilterError(f"pki_bundle: expected a list of {{src, dest}} dicts, got {type(files).__name__}")
    entries = []
    for src, dest in ((f.get("src"), f.get("dest")) for f in files):
        if not src or not dest:
            raise AnsibleFilterError("pki_bundle: every file needs a source in the PKI directory and a destination")
        entry = {"path": os.path.join(dest_dir, dest), "src": os.path.join(pki_dir, src),
                 "mode": "0600" if str(dest).endswith(".key") else "0644"}
        if owner:
            entry.update(owner=owner, group=owner)
        entries.append(entry)
    return entries


def pki_cas_due(cas, pki_dir, key_type="RSA", key_size=2048):
    """The certificate authorities ({name, cn}) whose key, signing request or self-signed certificate in pki_dir
    the pki role must write. Expiry is not checked: a CA is never renewed by age here."""
    if x509 is None:
        raise AnsibleFilterError("pki_cas_due: the Python package cryptography is missing on the controller")
    cas = list(cas or [])
    if not all(isinstance(c, dict) and {"name", "cn"} <= c.keys() for c in cas):
        raise AnsibleFilterError("pki_cas_due: the input must be a list of dicts with name and cn")
    return [c for c in cas if not _current(c, pki_dir, {}, key_type, key_size, None, {}, authority=True)]


def pki_sa_key_due(pki_dir, key_type="RSA", key_size=2048):
    """Whether the service account key pair in pki_dir needs work: False only when sa.key (0600) is a key of
    key_type and key_size and sa.pub (0644) holds its public key, as community.crypto would leave them."""
    if x509 is None:
        raise AnsibleFilterError("pki_sa_key_due: the Python package cryptography is missing on the controller")
    base = os.path.join(str(pki_dir), "sa")
    key_pem, pub_pem = _read(base + ".key"), _read(base + ".pub")
    if key_pem is None or pub_pem is None:
        return True
    if not (_mode_is(base + ".key", 0o600) and _mode_is(base + ".pub", 0o644)):
        return True
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
        public = serialization.load_pem_public_key(pub_pem)
    except (ValueError, TypeError):
        return True
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return not (_key_fits(key, key_type, key_size) and der == _public_der(key))


class FilterModule:
    def filters(self):
        return {"pki_certs_due": pki_certs_due, "pki_cas_due": pki_cas_due, "pki_bundle": pki_bundle,
                "pki_sa_key_due": pki_sa_key_due}
