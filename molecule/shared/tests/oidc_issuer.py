"""A minimal OpenID Connect issuer for lab tests: HTTPS on the lab gateway, discovery document, JWKS, RS256 tokens.

Everything is made in memory at start (a test CA, a serving certificate for the gateway address, an RSA
signing key); only the CA certificate leaves the process (it is public). Tokens are returned to the caller
and never printed.
"""
from __future__ import annotations

import base64
import datetime
import http.server
import ipaddress
import json
import ssl
import tempfile
import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _uint(number: int) -> str:
    return _b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


def _certificate(subject: str, key, issuer_name: x509.Name | None, issuer_key, ca: bool, address: str | None = None):
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if address:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class Issuer:
    """Serves https://<address>:<port> until stop(); ca_pem is what the API server must trust."""

    def __init__(self, address: str, port: int = 0):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _certificate("eksd lab OIDC test CA", ca_key, None, ca_key, ca=True)
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = _certificate(address, server_key, ca_cert.subject, ca_key, ca=False, address=address)
        self.ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
        self._signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._kid = "eksd-test-1"
        numbers = self._signing_key.public_key().public_numbers()
        self._jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": self._kid,
                                "n": _uint(numbers.n), "e": _uint(numbers.e)}]}
        self.requests: list[str] = []

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        with tempfile.TemporaryDirectory() as tmp:  # load_cert_chain reads files only; gone once loaded
            cert_file, key_file = Path(tmp, "tls.crt"), Path(tmp, "tls.key")
            cert_file.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
            key_file.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
            key_file.chmod(0o600)
            context.load_cert_chain(cert_file, key_file)

        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                issuer.requests.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/keys",
                            "response_types_supported": ["id_token"], "subject_types_supported": ["public"],
                            "id_token_signing_alg_values_supported": ["RS256"]}
                elif self.path == "/keys":
                    body = issuer._jwks
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer((address, port), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://{address}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def token(self, audience: str, lifetime: int = 600, **claims) -> str:
        """An RS256 ID token from this issuer for audience, with the given claims (sub, groups, ...)."""
        now = int(time.time())
        header = {"alg": "RS256", "typ": "JWT", "kid": self._kid}
        payload = {"iss": self.url, "aud": audience, "iat": now - 30, "nbf": now - 30, "exp": now + lifetime, **claims}
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(payload).encode())}"
        signature = self._signing_key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
