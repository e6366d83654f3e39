"""A SAML 2.0 identity provider on a loopback port: pysaml2's own IdP (saml2.server.Server) in a
small Flask app, with a key and certificate generated for it, signing real responses.

- GET /metadata: its metadata (``metadata_mode``: "ok", "error" (a 500), "garbage" (not XML),
  "slow" (waits ``delay`` seconds)). Every request is recorded in ``received``.
- GET /sso/redirect: the HTTP-Redirect sign-in our POST /sso sends the browser to. It checks
  the RSA-SHA1 query signature against the service provider's certificate (``requests`` keeps
  the AuthnRequest and whether its signature held), "signs the user in" as ``name_id`` with
  the ``identity`` attributes, and answers the page a browser posts to the ACS.
- ``response(...)`` makes a response without a request (IdP-initiated, or a test's forgery),
  with knobs for what GoTrue must refuse: unsigned, signed by another key, another audience,
  destination or issuer, a tampered document, an encrypted assertion.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from flask import Flask, Response, request
from saml2 import BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import entity_descriptor
from saml2.s_utils import decode_base64_and_inflate
from saml2.saml import NAMEID_FORMAT_PERSISTENT, NameID

from .loopback_http import LoopbackWSGIServer

with warnings.catch_warnings():
    # pysaml2's IdP names a cipher mode cryptography has moved (a DeprecationWarning at import);
    # the service provider side never imports it.
    warnings.simplefilter("ignore")
    from saml2.server import Server

URI_NAME_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
PASSWORD_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def key_and_certificate(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=365)).sign(key, hashes.SHA256()))
    return key, certificate


def sp_private_key_setting() -> str:
    """A GOTRUE_SAML_PRIVATE_KEY value: base64 of a new 2048-bit key's PKCS#1 DER."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return base64.b64encode(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption())).decode()


@dataclass
class ReceivedRequest:
    request_id: str
    xml: str
    relay_state: str
    signature_valid: bool
    query: dict = field(default_factory=dict)


class FakeSAMLIdP(LoopbackWSGIServer):
    """``FakeSAMLIdP(sp_metadata)``: an identity provider that knows our service provider."""

    def __init__(self, sp_metadata: str, *, sp_certificate: x509.Certificate):
        self.sp_metadata = sp_metadata
        self.sp_certificate = sp_certificate
        self.directory = tempfile.mkdtemp(prefix="fake-idp-")
        self.key, self.certificate = key_and_certificate("fake idp")
        self.received: list[str] = []
        self.requests: list[ReceivedRequest] = []
        self.metadata_mode = "ok"
        self.delay = 0.0
        self.name_id = NameID(format=NAMEID_FORMAT_PERSISTENT, text="alice-persistent-1")
        self.identity: dict = {"mail": ["Alice@Example.com"], "givenName": ["Alice"]}
        self.session_not_on_or_after: str | None = None
        app = Flask(__name__)
        app.add_url_rule("/metadata", "metadata", self._metadata)
        app.add_url_rule("/sso/redirect", "sso", self._sign_in)
        self.serve(app)
        self.entity_id = self.url + "/idp"
        self.server_ = self._server(self.key, self.certificate)
        self.metadata_xml = str(entity_descriptor(self.server_.config))

    # --- pysaml2 set-up ----------------------------------------------------------------------

    def _files(self, key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> tuple[str, str]:
        stem = os.path.join(self.directory, f"{id(key):x}")
        with open(stem + ".key", "wb") as file:
            file.write(key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.TraditionalOpenSSL,
                                         serialization.NoEncryption()))
        with open(stem + ".crt", "wb") as file:
            file.write(certificate.public_bytes(serialization.Encoding.PEM))
        return stem + ".key", stem + ".crt"

    def _server(self, key, certificate, sp_metadata: str | None = None) -> Server:
        key_file, cert_file = self._files(key, certificate)
        config = IdPConfig().load({
            "entityid": self.entity_id, "key_file": key_file, "cert_file": cert_file,
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "metadata": {"inline": [sp_metadata or self.sp_metadata]},
            "service": {"idp": {
                "endpoints": {"single_sign_on_service": [
                    (self.url + "/sso/redirect", BINDING_HTTP_REDIRECT)]},
                "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                "policy": {"default": {"lifetime": {"minutes": 15},
                                       "attribute_restrictions": None,
                                       "name_form": URI_NAME_FORMAT}},
            }},
        })
        return Server(config=config)

    def stop(self):
        super().stop()
        # The key files pysaml2 reads: one folder per fake, left in /tmp by every run before.
        shutil.rmtree(self.directory, ignore_errors=True)

    # --- endpoints ---------------------------------------------------------------------------

    def _metadata(self):
        self.received.append(request.full_path)
        if self.metadata_mode == "slow":
            time.sleep(self.delay)
        if self.metadata_mode == "error":
            return Response("nope", status=500)
        if self.metadata_mode == "garbage":
            return Response("<html><body>not metadata", mimetype="text/html")
        return Response(self.metadata_xml, mimetype="application/xml")

    def _signature_holds(self, raw_query: str) -> bool:
        """The HTTP-Redirect binding's signature: over the query's own encoded parts."""
        parts = dict(part.split("=", 1) for part in raw_query.split("&") if "=" in part)
        signed = "&".join(f"{name}={parts[name]}" for name in ("SAMLRequest", "RelayState",
                                                                 "SigAlg") if name in parts)
        try:
            self.sp_certificate.public_key().verify(
                base64.b64decode(unquote(parts.get("Signature", ""))), signed.encode(),
                padding.PKCS1v15(), hashes.SHA1())
        except Exception:
            return False
        return unquote(parts.get("SigAlg", "")) == "http://www.w3.org/2000/09/xmldsig#rsa-sha1"

    def _sign_in(self):
        raw_query = request.query_string.decode()
        query = parse_qs(raw_query)
        xml = decode_base64_and_inflate(query["SAMLRequest"][0]).decode()
        request_id = re.search(r' ID="([^"]+)"', xml).group(1)
        relay_state = query.get("RelayState", [""])[0]
        self.requests.append(ReceivedRequest(request_id, xml, relay_state,
                                             self._signature_holds(raw_query), query))
        encoded = self.response(in_response_to=request_id)
        acs = re.search(r'AssertionConsumerServiceURL="([^"]+)"', xml).group(1)
        return auto_post_page(acs, encoded, relay_state)

    # --- responses ---------------------------------------------------------------------------

    def response(self, *, in_response_to: str | None = None, acs_url: str | None = None,
                 audience: str | None = None, destination: str | None = None,
                 sign_response: bool = True, sign_assertion: bool = True,
                 other_key: bool = False, issuer: str | None = None, tamper=None,
                 name_id: NameID | None = None, identity: dict | None = None,
                 encrypt_with: x509.Certificate | None = None) -> str:
        """A base64 SAMLResponse as this IdP would post it (see the module docstring)."""
        sp_entity_id = re.search(r'entityID="([^"]+)"', self.sp_metadata).group(1)
        acs_url = acs_url or re.search(r'Location="([^"]+/acs)"', self.sp_metadata).group(1)
        server = self._server(*key_and_certificate("impostor")) if other_key else self.server_
        if audience is not None:
            # Signed for another service provider (its metadata, our ACS).
            server = self._server(self.key, self.certificate,
                                  self.sp_metadata.replace(sp_entity_id, audience))
        extra = {}
        if encrypt_with is not None:
            extra = {"encrypt_assertion": True, "encrypt_cert_assertion":
                     encrypt_with.public_bytes(serialization.Encoding.PEM).decode(),
                     "encrypt_assertion_self_contained": True}
        response = server.create_authn_response(
            identity if identity is not None else self.identity,
            in_response_to=in_response_to, destination=destination or acs_url,
            sp_entity_id=audience or sp_entity_id, name_id=name_id or self.name_id,
            authn={"class_ref": PASSWORD_CONTEXT, "authn_auth": self.entity_id},
            sign_response=sign_response, sign_assertion=sign_assertion,
            session_not_on_or_after=self.session_not_on_or_after, **extra)
        document = str(response)
        if issuer is not None:
            document = document.replace(f">{self.entity_id}<", f">{issuer}<")
        if tamper is not None:
            document = tamper(document)
        return base64.b64encode(document.encode()).decode()


def auto_post_page(action: str, saml_response: str, relay_state: str) -> Response:
    """The page an IdP answers: a form the browser posts to the ACS (a script submits it)."""
    body = (f'<html><body onload="document.forms[0].submit()"><form method="post" '
            f'action="{html.escape(action)}">'
            f'<input type="hidden" name="SAMLResponse" value="{html.escape(saml_response)}">'
            f'<input type="hidden" name="RelayState" value="{html.escape(relay_state)}">'
            f'</form></body></html>')
    return Response(body, mimetype="text/html")


def form_of(page: str) -> tuple[str, dict]:
    """The action and fields of the auto-post form in ``page``, as a browser reads them."""
    action = html.unescape(re.search(r'action="([^"]*)"', page).group(1))
    fields = {html.unescape(name): html.unescape(value) for name, value in
              re.findall(r'name="([^"]+)" value="([^"]*)"', page)}
    return action, fields


def query_of(url: str) -> dict:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
