"""This server as a SAML service provider: its URLs, keys and certificates, and the metadata
document identity providers are given (GET /sso/saml/metadata; GoTrue api/saml.go).

- EntityID = <GOTRUE_SAML_EXTERNAL_URL, else API_EXTERNAL_URL>/sso/saml/metadata, and the
  assertion consumer service (ACS) is <same>/sso/saml/acs.
- GOTRUE_SAML_PRIVATE_KEY signs the AuthnRequests and, with GOTRUE_SAML_PRIVATE_KEY_NEXT,
  decrypts encrypted assertions. Each key's certificate is self-signed and the same on every
  worker (security/saml_keys.py).

pysaml2 hands keys to the xmlsec1 program as files: each key lives in a directory of its own
that only this process's user may read, removed when the process ends.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from ...security import saml_keys
from ...settings import Settings

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
BINDING_HTTP_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
BINDING_HTTP_REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
BINDING_HTTP_ARTIFACT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
NAMEID_EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_PERSISTENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
NAMEID_TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
NAMEID_UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
# What an encryption key may be used with, as GoTrue's metadata lists it.
ENCRYPTION_METHODS = ("http://www.w3.org/2001/04/xmlenc#aes128-cbc",
                      "http://www.w3.org/2001/04/xmlenc#aes192-cbc",
                      "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
                      "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p")

# validUntil of the metadata: a downloaded file is kept (as long as a certificate), the
# served document is fetched again.
DOWNLOAD_VALIDITY = timedelta(days=5 * 365)
SERVED_VALIDITY = timedelta(hours=48)
# With a key being rotated in, identity providers should look again soon.
ROTATION_CACHE_DURATION = "PT1H"

ET.register_namespace("md", MD)
ET.register_namespace("ds", DS)


@dataclass(frozen=True)
class KeyFiles:
    key: str
    certificate: str


@dataclass(frozen=True)
class ServiceProvider:
    entity_id: str
    acs_url: str
    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    next_key: rsa.RSAPrivateKey | None
    next_certificate: x509.Certificate | None
    allow_encrypted_assertions: bool

    @property
    def signing_files(self) -> KeyFiles:
        return _key_files(self.key, self.certificate)

    @property
    def decryption_files(self) -> list[KeyFiles]:
        """The keys an encrypted assertion is tried with: the current one, then the next."""
        if not self.allow_encrypted_assertions:
            return []
        files = [self.signing_files]
        if self.next_key is not None:
            files.append(_key_files(self.next_key, self.next_certificate))
        return files


def base_url(settings: Settings) -> str:
    return (settings.saml.external_url or settings.api.external_url).rstrip("/")


def of(settings: Settings) -> ServiceProvider:
    """The service provider ``settings`` describe (GOTRUE_SAML_ENABLED is checked by callers)."""
    saml = settings.saml
    return _service_provider(base_url(settings), saml.private_key, saml.private_key_next,
                             saml.allow_encrypted_assertions)


@functools.lru_cache(maxsize=4)
def _service_provider(base: str, private_key: str, private_key_next: str,
                      allow_encrypted: bool) -> ServiceProvider:
    host = urlsplit(base).hostname or ""
    key = saml_keys.load_private_key(private_key)
    next_key = saml_keys.load_private_key(private_key_next) if private_key_next else None
    return ServiceProvider(
        entity_id=f"{base}/sso/saml/metadata", acs_url=f"{base}/sso/saml/acs",
        key=key, certificate=saml_keys.certificate_for(key, host),
        next_key=next_key,
        next_certificate=saml_keys.certificate_for(next_key, host) if next_key else None,
        allow_encrypted_assertions=allow_encrypted)


# --- key files for xmlsec1 ------------------------------------------------------------------

_files_lock = threading.Lock()
_files: dict[bytes, KeyFiles] = {}
# (process id, directory): a forked worker inherits the list but removes only its own.
_directories: list[tuple[int, str]] = []


def _key_files(key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> KeyFiles:
    pem = saml_keys.key_pem(key)
    with _files_lock:
        found = _files.get(pem)
        if found is not None and os.path.exists(found.key):
            return found
        directory = tempfile.mkdtemp(prefix="gotrue-saml-")  # mode 0700
        _directories.append((os.getpid(), directory))
        files = KeyFiles(key=_write(directory, "sp.key", pem),
                         certificate=_write(directory, "sp.crt",
                                            saml_keys.certificate_pem(certificate)))
        _files[pem] = files
        return files


def _write(directory: str, name: str, data: bytes) -> str:
    path = os.path.join(directory, name)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    return path


@atexit.register
def _remove_key_files() -> None:
    for owner, directory in _directories:
        if owner == os.getpid():
            shutil.rmtree(directory, ignore_errors=True)


# --- metadata ------------------------------------------------------------------------------

def _timestamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _key_descriptor(parent: ET.Element, use: str, certificate: x509.Certificate) -> None:
    descriptor = ET.SubElement(parent, f"{{{MD}}}KeyDescriptor", use=use)
    info = ET.SubElement(descriptor, f"{{{DS}}}KeyInfo")
    data = ET.SubElement(info, f"{{{DS}}}X509Data")
    ET.SubElement(data, f"{{{DS}}}X509Certificate").text = saml_keys.certificate_base64(
        certificate)
    if use == "encryption":
        for algorithm in ENCRYPTION_METHODS:
            ET.SubElement(descriptor, f"{{{MD}}}EncryptionMethod", Algorithm=algorithm)


def metadata_xml(sp: ServiceProvider, now: datetime, *, download: bool) -> bytes:
    """The SPSSODescriptor: signed assertions wanted, the signing (and, when encrypted
    assertions are allowed, encryption) certificates of both keys, the name id formats and
    the ACS (HTTP-POST, index 1; HTTP-Artifact, index 2)."""
    valid_until = _timestamp(now + (DOWNLOAD_VALIDITY if download else SERVED_VALIDITY))
    root = ET.Element(f"{{{MD}}}EntityDescriptor", entityID=sp.entity_id,
                      validUntil=valid_until)
    if sp.next_key is not None:
        root.set("cacheDuration", ROTATION_CACHE_DURATION)
    descriptor = ET.SubElement(root, f"{{{MD}}}SPSSODescriptor", validUntil=valid_until,
                               protocolSupportEnumeration=PROTOCOL,
                               WantAssertionsSigned="true")
    certificates = [sp.certificate] + ([sp.next_certificate] if sp.next_certificate else [])
    for certificate in certificates:
        _key_descriptor(descriptor, "signing", certificate)
    if sp.allow_encrypted_assertions:
        for certificate in certificates:
            _key_descriptor(descriptor, "encryption", certificate)
    for name_id_format in (NAMEID_EMAIL, NAMEID_PERSISTENT):
        ET.SubElement(descriptor, f"{{{MD}}}NameIDFormat").text = name_id_format
    for index, binding in ((1, BINDING_HTTP_POST), (2, BINDING_HTTP_ARTIFACT)):
        ET.SubElement(descriptor, f"{{{MD}}}AssertionConsumerService", Binding=binding,
                      Location=sp.acs_url, index=str(index))
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
