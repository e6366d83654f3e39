"""The SAML service provider's keys: GOTRUE_SAML_PRIVATE_KEY (and _NEXT) read and checked, and
the self-signed certificate the metadata publishes for each (GoTrue conf/saml.go).

The certificate is a function of the key and the host alone (fixed serial, validity from the
Unix epoch for 200 years, deterministic PKCS#1 v1.5 signature), so every worker and every
restart publishes the same one, as GoTrue's does.
"""

from __future__ import annotations

import base64
import binascii
import functools
from datetime import datetime, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

MIN_KEY_BITS = 2048
PUBLIC_EXPONENT = 65537
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NOT_AFTER = datetime(2170, 1, 1, tzinfo=timezone.utc)


def load_private_key(value: str) -> rsa.RSAPrivateKey:
    """The RSA key in ``value`` (base64 of the DER form, PKCS#1); ValueError says what is wrong."""
    try:
        der = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    try:
        key = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise ValueError("not a DER-encoded PKCS#1 RSA private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    if key.private_numbers().public_numbers.e != PUBLIC_EXPONENT:
        raise ValueError("the RSA public exponent must be 65537")
    if key.key_size < MIN_KEY_BITS:
        raise ValueError(f"the RSA key must have at least {MIN_KEY_BITS} bits")
    return key


@functools.lru_cache(maxsize=8)
def _certificate(key_der: bytes, host: str) -> x509.Certificate:
    key = serialization.load_der_private_key(key_der, password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME,
                                         f"SAML 2.0 Certificate for {host}")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(_EPOCH)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"_samlsp.{host}")]),
                       critical=False)
        .add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False, key_encipherment=True,
            data_encipherment=False, key_agreement=False, key_cert_sign=False,
            crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA256())
    )


def certificate_for(key: rsa.RSAPrivateKey, host: str) -> x509.Certificate:
    """The service provider's self-signed certificate for ``key`` on ``host``."""
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return _certificate(der, host)


def key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def certificate_base64(certificate: x509.Certificate) -> str:
    """The DER certificate in base64, as a metadata <ds:X509Certificate> holds it."""
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()
