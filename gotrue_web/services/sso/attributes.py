"""Who a SAML assertion names: the user id, the email, and the attribute mapping's claims
(GoTrue api/samlassertion.go and samlacs.go; spec oauth-sso.md section 5).

Attributes are matched on Name or FriendlyName, ignoring case. A mapping key takes the values
of its ``name``, then of each of its ``names``: the first that has a non-empty value wins
(``array``: all that name's non-empty values); with none, its ``default``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..oauth.callback import IDENTITY_KEYS
from .service_provider import NAMEID_EMAIL, NAMEID_TRANSIENT

SUBJECT_ID_ATTRIBUTE = "urn:oasis:names:tc:SAML:attribute:subject-id"
EMAIL_ATTRIBUTES = ("urn:oid:0.9.2342.19200300.100.1.3",
                    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                    "http://schemas.xmlsoap.org/claims/EmailAddress",
                    "mail", "Mail", "email")
# GoTrue's provider.Claims: mapped keys with these names are claims, the others custom claims.
CLAIM_KEYS = frozenset(IDENTITY_KEYS) | {"email_verified", "phone_verified"}


@dataclass(frozen=True)
class Attribute:
    name: str
    friendly_name: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class AssertionFacts:
    """What the ACS reads from a validated assertion."""

    name_id: str = ""
    name_id_format: str = ""
    attributes: tuple[Attribute, ...] = ()
    session_not_on_or_after: datetime | None = None

    def values(self, name: str) -> list[str]:
        wanted = name.casefold()
        return [value for attribute in self.attributes
                if attribute.name.casefold() == wanted
                or (attribute.friendly_name and attribute.friendly_name.casefold() == wanted)
                for value in attribute.values]


def normalized_mapping(mapping: dict) -> dict:
    """``{"keys": {key: {name?, names?, default?, array?}}}`` with empty fields left out, as
    GoTrue stores and shows it; ``{}`` without keys. ValueError names what is malformed."""
    keys = mapping.get("keys")
    if keys is None:
        return {}
    if not isinstance(keys, dict):
        raise ValueError("keys must be an object")
    normalized = {}
    for key, spec in keys.items():
        if not isinstance(spec, dict):
            raise ValueError(f"keys.{key} must be an object")
        item: dict = {}
        name = spec.get("name")
        if name is not None and not isinstance(name, str):
            raise ValueError(f"keys.{key}.name must be a string")
        if name:
            item["name"] = name
        names = spec.get("names")
        if names is not None and (not isinstance(names, list)
                                  or not all(isinstance(n, str) for n in names)):
            raise ValueError(f"keys.{key}.names must be an array of strings")
        if names:
            item["names"] = names
        if spec.get("default") is not None:
            item["default"] = spec["default"]
        array = spec.get("array")
        if array is not None and not isinstance(array, bool):
            raise ValueError(f"keys.{key}.array must be a boolean")
        if array:
            item["array"] = True
        normalized[key] = item
    return {"keys": normalized}


def user_id(facts: AssertionFacts) -> str:
    """The subject-id attribute, else a NameID that is not transient (an emailAddress one
    trimmed and lower-cased); "" when neither identifies the user."""
    subject_ids = facts.values(SUBJECT_ID_ATTRIBUTE)
    if subject_ids:
        return subject_ids[0]
    if not facts.name_id:
        return ""
    if facts.name_id_format == NAMEID_EMAIL:
        return facts.name_id.strip().lower()
    if facts.name_id_format == NAMEID_TRANSIENT:
        return ""
    return facts.name_id


def mapped(facts: AssertionFacts, mapping: dict | None) -> dict:
    """Each mapping key's value (spec 5: name, then names; array; default)."""
    result: dict = {}
    for key, spec in ((mapping or {}).get("keys") or {}).items():
        names = ([spec["name"]] if spec.get("name") else []) + list(spec.get("names") or [])
        for name in names:
            found = [value for value in facts.values(name) if value]
            if found:
                result[key] = found if spec.get("array") else found[0]
                break
        if key not in result and spec.get("default") is not None:
            result[key] = spec["default"]
    return result


def email(facts: AssertionFacts, claims: dict) -> str:
    """The mapped email, else the first of the usual email attributes, else an emailAddress
    NameID."""
    value = claims.get("email")
    if isinstance(value, str) and value:
        return value
    for name in EMAIL_ATTRIBUTES:
        for candidate in facts.values(name):
            if candidate:
                return candidate
    if facts.name_id_format == NAMEID_EMAIL:
        return facts.name_id
    return ""


def identity_data(claims: dict, *, subject: str, issuer: str, address: str) -> dict:
    """identity_data of the ``sso:<id>`` identity: mapped keys that are claims (text values),
    then sub, iss, the email (verified), and every other mapped key in custom_claims."""
    known = {key: value for key, value in claims.items()
             if key in CLAIM_KEYS and isinstance(value, str)}
    custom = {key: value for key, value in claims.items()
              if key not in CLAIM_KEYS or not isinstance(value, str)}
    custom.pop("email", None)
    known.update(sub=subject, iss=issuer, email=address.strip().lower())
    if custom:
        known["custom_claims"] = custom
    data = {key: known[key] for key in IDENTITY_KEYS if known.get(key) not in (None, "", {})}
    data["provider_id"] = subject
    data["email_verified"] = True
    data["phone_verified"] = known.get("phone_verified") == "true"
    return data
