"""An identity provider's SAML metadata: read safely, checked as GoTrue does
(api/ssoadmin.go parseSAMLMetadata), fetched from metadata_url, and refreshed when stale.

The document is parsed by defusedxml with DTDs refused, so no entity is ever expanded and no
external resource is loaded. pysaml2 reads it again (also through defusedxml) to verify
responses; this module takes what the admin API and POST /sso need.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ...errors import ErrorCode, bad_request, internal
from ...runtime import Runtime
from ...transports import http
from .service_provider import BINDING_HTTP_REDIRECT, MD

log = logging.getLogger(__name__)

# One entity's metadata; a whole federation's would not be one identity provider anyway.
MAX_METADATA_BYTES = 1024 * 1024
ACCEPT = "application/xml;charset=UTF-8"
# A stored document with neither validUntil nor cacheDuration is fetched again after this.
DEFAULT_REFRESH = timedelta(hours=24)

_DURATION = re.compile(r"(-)?P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)D)?"
                       r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?")


@dataclass(frozen=True)
class IdPMetadata:
    entity_id: str
    # Where POST /sso sends the browser (the HTTP-Redirect SingleSignOnService), if offered.
    redirect_sign_in_url: str
    valid_until: datetime | None
    cache_duration: timedelta | None


def _invalid(message: str):
    return bad_request(ErrorCode.VALIDATION_FAILED, message)


def parse(raw: str | bytes) -> IdPMetadata:
    """GoTrue's checks in order: UTF-8, well-formed (else 500, as GoTrue), an EntityID, exactly
    one IDPSSODescriptor."""
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _invalid("SAML Metadata XML contains invalid UTF-8 characters, which are "
                           "not supported at this time") from None
    try:
        root = fromstring(raw.encode("utf-8"), forbid_dtd=True)
    except (ET.ParseError, DefusedXmlException, ValueError) as exc:
        raise internal("SAML Metadata could not be parsed as XML", cause=exc) from exc
    entity = _entity_descriptor(root)
    if entity is None:
        raise internal("SAML Metadata is not an EntityDescriptor")
    entity_id = (entity.get("entityID") or "").strip()
    if not entity_id:
        raise _invalid("SAML Metadata does not contain an EntityID")
    descriptors = entity.findall(f"{{{MD}}}IDPSSODescriptor")
    if not descriptors:
        raise _invalid("SAML Metadata does not contain any IDPSSODescriptor")
    if len(descriptors) > 1:
        raise _invalid("SAML Metadata contains multiple IDPSSODescriptors")
    redirect = ""
    for service in descriptors[0].findall(f"{{{MD}}}SingleSignOnService"):
        if service.get("Binding") == BINDING_HTTP_REDIRECT and service.get("Location"):
            redirect = service.get("Location")
            break
    return IdPMetadata(
        entity_id=entity_id, redirect_sign_in_url=redirect,
        valid_until=_earliest(_datetime(entity.get("validUntil")),
                              _datetime(root.get("validUntil"))),
        cache_duration=_duration(entity.get("cacheDuration") or root.get("cacheDuration")))


def _entity_descriptor(root: ET.Element) -> ET.Element | None:
    if root.tag == f"{{{MD}}}EntityDescriptor":
        return root
    if root.tag == f"{{{MD}}}EntitiesDescriptor":
        # A group document: its identity provider, as GoTrue's metadata reader takes it.
        entities = root.findall(f".//{{{MD}}}EntityDescriptor")
        for entity in entities:
            if entity.find(f"{{{MD}}}IDPSSODescriptor") is not None:
                return entity
        return entities[0] if entities else None
    return None


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _earliest(*moments: datetime | None) -> datetime | None:
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


def _duration(value: str | None) -> timedelta | None:
    """An xs:duration such as PT1H or P1D (a month as 30 days, a year as 365)."""
    match = _DURATION.fullmatch((value or "").strip())
    if not value or not match or match.group(1):
        return None
    years, months, days, hours, minutes = (int(part or 0) for part in match.groups()[1:6])
    seconds = float(match.group(7) or 0)
    return timedelta(days=years * 365 + months * 30 + days, hours=hours, minutes=minutes,
                     seconds=seconds)


def fetch(rt: Runtime, url: str) -> bytes:
    """GET metadata_url within GOTRUE_INTERNAL_HTTP_TIMEOUT. A non-2xx answer, a timeout or an
    answer over 1 MiB is 400 saml_metadata_fetch_failed."""
    try:
        return http.get_bytes(url, timeout=rt.settings.external.http_timeout.total_seconds(),
                              max_bytes=MAX_METADATA_BYTES, accept=ACCEPT)
    except http.FetchError as exc:
        if exc.status is not None:
            message = f"HTTP {exc.status} error fetching SAML Metadata from URL '{url}'"
        else:
            message = f"Unable to fetch SAML Metadata from URL '{url}': {exc}"
        raise bad_request(ErrorCode.SAML_METADATA_FETCH_FAILED, message, cause=exc) from exc


def is_stale(metadata: IdPMetadata, updated_at: datetime | None, now: datetime) -> bool:
    """validUntil passed, or cacheDuration since the last fetch, or (neither set) 24 hours."""
    if metadata.valid_until is not None and metadata.valid_until <= now:
        return True
    if updated_at is None:
        return True
    if metadata.cache_duration is not None:
        return updated_at + metadata.cache_duration <= now
    if metadata.valid_until is None:
        return updated_at + DEFAULT_REFRESH <= now
    return False
