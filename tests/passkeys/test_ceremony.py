"""The WebAuthn ceremonies (services/passkeys/ceremony.py, spec idp-passkeys-web3.md sections
2.2 to 2.5): the exact options JSON, and registration and authentication answered by the
software authenticator, each check failing on purpose. Pure: no database, except one app smoke
test of this folder's fixtures."""

from __future__ import annotations

import dataclasses
import json
import random
import uuid

import cbor2
import pytest

from gotrue_web.errors import GoTrueError
from gotrue_web.services.passkeys import ceremony
from gotrue_web.services.passkeys.ceremony import CeremonyError
from gotrue_web.settings.passkeys.webauthn import WebAuthnSettings

from ..conftest import api_for
from ..support.soft_authenticator import EDDSA, ES256, RS256, SoftAuthenticator, b64url
from .conftest import ORIGIN, RP_ID

RP = WebAuthnSettings(rp_id=RP_ID, rp_display_name="gotrue-web tests",
                      rp_origins=(ORIGIN, "https://app.example.com"))
USER_ID = uuid.UUID("11111111-2222-3333-4444-555555555555")
USER_HANDLE = "MTExMTExMTEtMjIyMi0zMzMzLTQ0NDQtNTU1NTU1NTU1NTU1"
CHALLENGE = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA"
PARAMS = [{"type": "public-key", "alg": alg}
          for alg in (-7, -35, -36, -257, -258, -259, -37, -38, -39, -8)]
GOOGLE = uuid.UUID("ea9b8d66-4d01-1d21-3ce4-b6b48cb575d4")
ALGORITHMS = [pytest.param(ES256, id="ES256"), pytest.param(RS256, id="RS256"),
              pytest.param(EDDSA, id="EdDSA")]


def creation(**extra):
    return ceremony.passkey_registration_options(
        RP, challenge=CHALLENGE, user_id=USER_ID, user_name="a@example.com",
        display_name="Ann", exclude=(), **extra)


def request():
    return ceremony.authentication_options(RP, challenge=CHALLENGE)


def registered(authenticator: SoftAuthenticator, **overrides) -> ceremony.RegisteredCredential:
    response = authenticator.create(creation(), **overrides)
    return ceremony.verify_registration(RP, response, challenge=CHALLENGE)


def login(authenticator, stored, *, sign_count=None, backup_eligible=None, **overrides):
    response = authenticator.get(request(), **overrides)
    return ceremony.verify_authentication(
        RP, response, challenge=CHALLENGE, public_key=stored.public_key,
        sign_count=stored.sign_count if sign_count is None else sign_count,
        backup_eligible=stored.backup_eligible if backup_eligible is None else backup_eligible)


def refused(call) -> CeremonyError:
    with pytest.raises(CeremonyError) as caught:
        call()
    return caught.value


# -- options ------------------------------------------------------------------------------

def test_passkey_registration_options_are_gotrues_json_in_its_key_order():
    options = creation()
    assert json.dumps(options) == json.dumps({
        "rp": {"name": "gotrue-web tests", "id": "localhost"},
        "user": {"name": "a@example.com", "displayName": "Ann", "id": USER_HANDLE},
        "challenge": CHALLENGE,
        "pubKeyCredParams": PARAMS,
        "timeout": 300000,
        "authenticatorSelection": {"residentKey": "required", "userVerification": "preferred"},
        "attestation": "none",
    })


def test_passkey_registration_options_exclude_the_users_credentials():
    options = ceremony.passkey_registration_options(
        RP, challenge=CHALLENGE, user_id=USER_ID, user_name="+15550001", display_name="",
        exclude=[b"\x01\x02\x03", b"\xff" * 16])
    assert list(options) == ["rp", "user", "challenge", "pubKeyCredParams", "timeout",
                             "excludeCredentials", "authenticatorSelection", "attestation"]
    assert options["excludeCredentials"] == [
        {"type": "public-key", "id": "AQID"},
        {"type": "public-key", "id": "_____________________w"}]
    assert options["user"] == {"name": "+15550001", "displayName": "", "id": USER_HANDLE}


def test_mfa_creation_options_have_no_selection_nor_attestation():
    plain = ceremony.mfa_creation_options(RP, challenge=CHALLENGE, user_id=USER_ID,
                                          email="a@example.com", exclude=[])
    assert json.dumps(plain) == json.dumps({
        "rp": {"name": "gotrue-web tests", "id": "localhost"},
        "user": {"name": "a@example.com", "displayName": "a@example.com", "id": USER_HANDLE},
        "challenge": CHALLENGE, "pubKeyCredParams": PARAMS, "timeout": 300000})
    excluding = ceremony.mfa_creation_options(RP, challenge=CHALLENGE, user_id=USER_ID,
                                              email="a@example.com", exclude=[b"\x01\x02\x03"])
    assert list(excluding)[-1] == "excludeCredentials"
    assert excluding["excludeCredentials"] == [
        {"type": "public-key", "id": "AQID", "transports": ["usb", "nfc"]}]


def test_authentication_options_with_and_without_allowed_credentials():
    assert json.dumps(request()) == json.dumps({
        "challenge": CHALLENGE, "timeout": 300000, "rpId": "localhost",
        "userVerification": "preferred"})
    allowing = ceremony.authentication_options(RP, challenge=CHALLENGE, allow=[b"\x01\x02\x03"])
    assert json.dumps(allowing) == json.dumps({
        "challenge": CHALLENGE, "timeout": 300000, "rpId": "localhost",
        "allowCredentials": [{"type": "public-key", "id": "AQID"}],
        "userVerification": "preferred"})


def test_challenges_handles_and_base64url():
    challenges = {ceremony.new_challenge() for _ in range(20)}
    assert len(challenges) == 20
    assert all(len(ceremony.b64url_decode(c)) == 32 and "=" not in c for c in challenges)
    assert ceremony.b64url_decode(USER_HANDLE) == str(USER_ID).encode("ascii")
    assert ceremony.user_handle(USER_ID) == USER_HANDLE
    assert ceremony.b64url(b"\xfb\xff") == "-_8"
    assert ceremony.b64url_decode("-_8") == ceremony.b64url_decode("-_8=") == b"\xfb\xff"
    for bad in ("a", "ab+/", "ab cd", "ab!", "abc===", "ab=c", 7, None):
        with pytest.raises(ValueError):
            ceremony.b64url_decode(bad)


def test_an_unconfigured_relying_party_is_a_500():
    ceremony.require_relying_party(RP)
    for missing in ({"rp_id": ""}, {"rp_display_name": ""}, {"rp_origins": ()}):
        with pytest.raises(GoTrueError) as caught:
            ceremony.require_relying_party(dataclasses.replace(RP, **missing))
        assert (caught.value.status, caught.value.message) == (
            500, "Failed to initialize WebAuthn")


# -- registration and authentication ------------------------------------------------------

@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_register_and_sign_in(algorithm):
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, algorithm=algorithm)
    stored = registered(authenticator)
    soft = authenticator.credentials[authenticator.last_credential_id]
    assert stored.credential_id == soft.credential_id
    assert cbor2.loads(stored.public_key) == cbor2.loads(soft.public_key)
    assert cbor2.loads(stored.public_key)[3] == algorithm
    assert (stored.sign_count, stored.aaguid, stored.attestation_type, stored.transports,
            stored.backup_eligible, stored.backed_up) == (
        0, uuid.UUID(int=0), "none", ["usb"], False, False)

    assertion = ceremony.read_assertion(authenticator.get(request()))
    assert assertion == ceremony.Assertion(raw_id=stored.credential_id,
                                           user_handle=str(USER_ID).encode("ascii"))
    assert login(authenticator, stored) == ceremony.VerifiedAssertion(
        sign_count=2, backed_up=False, clone_warning=False)


def test_synced_passkey_keeps_its_backup_flags():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, backup_eligible=True,
                                      backed_up=True, aaguid=GOOGLE.bytes,
                                      transports=("internal", "hybrid"))
    stored = registered(authenticator)
    assert (stored.backup_eligible, stored.backed_up, stored.aaguid, stored.transports) == (
        True, True, GOOGLE, ["internal", "hybrid"])
    assert ceremony.authenticator_name(stored.aaguid) == "Google Password Manager"
    assert login(authenticator, stored, backed_up=False).backed_up is False


def test_padded_base64url_and_a_second_origin_are_accepted():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin="https://app.example.com")
    response = authenticator.create(creation())
    response["rawId"] += "=" * (-len(response["rawId"]) % 4)
    response["response"] = {key: value + "=" * (-len(value) % 4) if isinstance(value, str)
                            else value for key, value in response["response"].items()}
    stored = ceremony.verify_registration(RP, response, challenge=CHALLENGE)
    assert login(authenticator, stored).sign_count == 1


def test_user_verification_is_not_required():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, user_verified=False)
    stored = registered(authenticator)
    assert login(authenticator, stored).clone_warning is False


def test_assertion_without_user_handle():
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN)
    stored = registered(authenticator)
    assert ceremony.read_assertion(authenticator.get(request(), user_handle=None)) == \
        ceremony.Assertion(raw_id=stored.credential_id, user_handle=None)


CHECKS = {  # name: (authenticator overrides, the failed check)
    "wrong origin": ({"origin": "http://localhost:5174"}, "origin not allowed"),
    "origin with a slash": ({"origin": ORIGIN + "/"}, "origin not allowed"),
    "wrong rp id": ({"rp_id": "example.com"}, "rpIdHash mismatch"),
    "wrong challenge": ({"challenge": ceremony.b64url(b"other")}, "challenge mismatch"),
    "user not present": ({"user_present": False}, "user not present"),
    "backed up without eligibility": ({"backed_up": True, "backup_eligible": False},
                                      "backed up without backup eligibility"),
}


@pytest.mark.parametrize("overrides,detail", [
    *CHECKS.values(),
    ({"type": "webauthn.get"}, "clientDataJSON type is not webauthn.create"),
], ids=[*CHECKS.keys(), "wrong type"])
def test_registration_checks(authenticator, overrides, detail):
    error = refused(lambda: registered(authenticator, **overrides))
    assert (str(error), error.detail) == (CeremonyError.FAILED, detail)


def test_registration_refuses_a_foreign_credential_id(authenticator):
    response = authenticator.create(creation())
    response["id"] = response["rawId"] = b64url(b"another credential id")
    error = refused(lambda: ceremony.verify_registration(RP, response, challenge=CHALLENGE))
    assert (str(error), error.detail) == (CeremonyError.FAILED,
                                          "rawId is not the attested credential id")


def with_public_key(response: dict, edit) -> dict:
    """The registration ``response`` with its attested COSE key edited by ``edit(dict)``."""
    attestation = cbor2.loads(ceremony.b64url_decode(response["response"]["attestationObject"]))
    auth_data = attestation["authData"]
    id_length = int.from_bytes(auth_data[53:55], "big")
    key_start = 55 + id_length
    key = cbor2.loads(auth_data[key_start:])
    edit(key)
    attestation["authData"] = auth_data[:key_start] + cbor2.dumps(key)
    response["response"]["attestationObject"] = b64url(cbor2.dumps(attestation))
    return response


@pytest.mark.parametrize("algorithm,label", [
    pytest.param(RS256, -65535, id="RS1 not offered"),
    # py_webauthn cannot read ES384 keys (ceremony.py says why this is accepted).
    pytest.param(ES256, -35, id="ES384 unsupported"),
])
def test_registration_refuses_algorithms_it_cannot_use(algorithm, label):
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN, algorithm=algorithm)
    response = with_public_key(authenticator.create(creation()),
                               lambda key: key.__setitem__(3, label))
    error = refused(lambda: ceremony.verify_registration(RP, response, challenge=CHALLENGE))
    assert str(error) == CeremonyError.FAILED


def test_registration_with_an_unverifiable_attestation_format(authenticator):
    response = authenticator.create(creation())
    attestation = cbor2.loads(ceremony.b64url_decode(response["response"]["attestationObject"]))
    response["response"]["attestationObject"] = b64url(cbor2.dumps({**attestation,
                                                                     "fmt": "packed"}))
    error = refused(lambda: ceremony.verify_registration(RP, response, challenge=CHALLENGE))
    assert str(error) == CeremonyError.FAILED


@pytest.mark.parametrize("overrides,detail", [
    *CHECKS.values(),
    ({"type": "webauthn.create"}, "clientDataJSON type is not webauthn.get"),
], ids=[*CHECKS.keys(), "wrong type"])
def test_authentication_checks(authenticator, overrides, detail):
    stored = registered(authenticator)
    error = refused(lambda: login(authenticator, stored, **overrides))
    assert (str(error), error.detail) == (CeremonyError.FAILED, detail)


@pytest.mark.parametrize("stored_eligible,flag", [(False, True), (True, False)],
                         ids=["became eligible", "lost eligibility"])
def test_a_backup_eligibility_flip_fails(stored_eligible, flag):
    authenticator = SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN,
                                      backup_eligible=stored_eligible)
    stored = registered(authenticator)
    error = refused(lambda: login(authenticator, stored, backup_eligible=flag))
    assert error.detail == "backup eligibility differs from the stored credential"


def test_a_bad_signature_or_another_key_fails(authenticator):
    stored = registered(authenticator)
    other = registered(SoftAuthenticator(rp_id=RP_ID, origin=ORIGIN))
    response = authenticator.get(request())
    signature = bytearray(ceremony.b64url_decode(response["response"]["signature"]))
    signature[-1] ^= 1
    response["response"]["signature"] = b64url(bytes(signature))
    for public_key, answer in ((stored.public_key, response),
                               (other.public_key, authenticator.get(request()))):
        error = refused(lambda: ceremony.verify_authentication(
            RP, answer, challenge=CHALLENGE, public_key=public_key, sign_count=0,
            backup_eligible=False))
        assert str(error) == CeremonyError.FAILED


@pytest.mark.parametrize("stored_count,new_count,expected", [
    (5, 3, ceremony.VerifiedAssertion(sign_count=5, backed_up=False, clone_warning=True)),
    (5, 5, ceremony.VerifiedAssertion(sign_count=5, backed_up=False, clone_warning=True)),
    (5, 0, ceremony.VerifiedAssertion(sign_count=5, backed_up=False, clone_warning=True)),
    (0, 0, ceremony.VerifiedAssertion(sign_count=0, backed_up=False, clone_warning=False)),
    (5, 6, ceremony.VerifiedAssertion(sign_count=6, backed_up=False, clone_warning=False)),
], ids=["regression", "repeat", "stopped counting", "never counted", "grew"])
def test_sign_counter(authenticator, stored_count, new_count, expected):
    stored = registered(authenticator)
    response = authenticator.get(request(), sign_count=new_count)
    assert ceremony.verify_authentication(
        RP, response, challenge=CHALLENGE, public_key=stored.public_key,
        sign_count=stored_count, backup_eligible=False) == expected


# -- garbage ------------------------------------------------------------------------------

def mutate(credential: dict, path: tuple, value) -> dict:
    copy = json.loads(json.dumps(credential))
    target = copy
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        target.pop(path[-1], None)
    else:
        target[path[-1]] = value
    return copy


def encoded(value) -> str:
    return b64url(value if isinstance(value, bytes) else json.dumps(value).encode())


COMMON_GARBAGE = {
    "credential not an object": (None, ["x"]),
    "id missing": (("id",), KeyError), "id a number": (("id",), 5),
    "rawId missing": (("rawId",), KeyError), "rawId not base64url": (("rawId",), "a+b/"),
    "rawId empty": (("rawId",), ""), "type missing": (("type",), KeyError),
    "type other": (("type",), "password"), "response missing": (("response",), KeyError),
    "response a list": (("response",), []),
    "clientDataJSON missing": (("response", "clientDataJSON"), KeyError),
    "clientDataJSON not base64url": (("response", "clientDataJSON"), "%%%"),
    "clientDataJSON not JSON": (("response", "clientDataJSON"), encoded(b"{nope")),
    "clientDataJSON not UTF-8": (("response", "clientDataJSON"), encoded(b"\xff\xfe\xfd")),
    "clientDataJSON a list": (("response", "clientDataJSON"), encoded([1])),
    "clientDataJSON without challenge": (("response", "clientDataJSON"),
                                         encoded({"type": "webauthn.create", "origin": ORIGIN})),
    "clientDataJSON challenge a number": (("response", "clientDataJSON"), encoded(
        {"type": "webauthn.get", "challenge": 1, "origin": ORIGIN})),
}
REGISTRATION_GARBAGE = {
    **COMMON_GARBAGE,
    "attestationObject missing": (("response", "attestationObject"), KeyError),
    "attestationObject not CBOR": (("response", "attestationObject"), encoded(b"\xff\x00")),
    "attestationObject a CBOR list": (("response", "attestationObject"),
                                      encoded(cbor2.dumps([1, 2]))),
    "attestationObject without authData": (("response", "attestationObject"),
                                           encoded(cbor2.dumps({"fmt": "none"}))),
    "authData short": (("response", "attestationObject"), encoded(cbor2.dumps(
        {"fmt": "none", "attStmt": {}, "authData": b"\x00" * 36}))),
    "authData a string": (("response", "attestationObject"), encoded(cbor2.dumps(
        {"fmt": "none", "attStmt": {}, "authData": "abc"}))),
    "fmt a number": (("response", "attestationObject"), encoded(cbor2.dumps(
        {"fmt": 1, "attStmt": {}, "authData": b"\x00" * 37}))),
    "transports not a list": (("response", "transports"), "usb"),
    "transports with a number": (("response", "transports"), ["usb", 1]),
}
AUTHENTICATION_GARBAGE = {
    **COMMON_GARBAGE,
    "authenticatorData missing": (("response", "authenticatorData"), KeyError),
    "authenticatorData short": (("response", "authenticatorData"), encoded(b"\x00" * 36)),
    "authenticatorData with leftovers": (("response", "authenticatorData"),
                                         encoded(b"\x00" * 40)),
    "signature missing": (("response", "signature"), KeyError),
    "signature a list": (("response", "signature"), [1]),
    "userHandle a number": (("response", "userHandle"), 7),
    "userHandle not base64url": (("response", "userHandle"), "+++"),
}


@pytest.mark.parametrize("case", REGISTRATION_GARBAGE.values(), ids=REGISTRATION_GARBAGE.keys())
def test_unparsable_registrations_are_invalid(authenticator, case):
    shapes = case[1] if case[0] is None else [mutate(authenticator.create(creation()), *case)]
    for shape in shapes:
        error = refused(lambda: ceremony.verify_registration(RP, shape, challenge=CHALLENGE))
        assert str(error) == CeremonyError.INVALID, error.detail


@pytest.mark.parametrize("case", AUTHENTICATION_GARBAGE.values(),
                         ids=AUTHENTICATION_GARBAGE.keys())
def test_unparsable_assertions_are_invalid(authenticator, case):
    stored = registered(authenticator)
    shapes = case[1] if case[0] is None else [mutate(authenticator.get(request()), *case)]
    for shape in shapes:
        error = refused(lambda: ceremony.verify_authentication(
            RP, shape, challenge=CHALLENGE, public_key=stored.public_key, sign_count=0,
            backup_eligible=False))
        assert str(error) == CeremonyError.INVALID, error.detail


def test_read_assertion_parses_the_envelope_only(authenticator):
    registered(authenticator)
    for bad in (None, [], {"id": "AQID", "rawId": "AQID", "type": "public-key"},
                mutate(authenticator.get(request()), ("response", "userHandle"), 1)):
        assert str(refused(lambda: ceremony.read_assertion(bad))) == CeremonyError.INVALID


def scrambled(rng: random.Random, value):
    """``value`` replaced by another type, cut short, or with bytes changed (and cut)."""
    edit = rng.choice(["type", "cut text", "flip", "flip and cut"])
    if edit == "type" or not isinstance(value, str) or not value:
        return rng.choice([None, 0, -1, 2**70, 1.5, True, "", [], {}, "=", "\u00e9"])
    if edit == "cut text":
        return value[: rng.randrange(len(value))]
    raw = bytearray(ceremony.b64url_decode(value))
    for _ in range(rng.randint(1, 4)):
        raw[rng.randrange(len(raw))] = rng.randrange(256)
    return b64url(bytes(raw[: len(raw) - rng.randrange(1, 4)] if edit == "flip and cut" else raw))


def test_no_mutation_escapes_as_another_exception(authenticator):
    rng = random.Random(19)
    stored = registered(authenticator)
    for _ in range(300):
        created = authenticator.create(creation())
        asserted = authenticator.get(request())
        for credential, verify in (
                (created, lambda c: ceremony.verify_registration(RP, c, challenge=CHALLENGE)),
                (asserted, lambda c: ceremony.verify_authentication(
                    RP, c, challenge=CHALLENGE, public_key=stored.public_key, sign_count=0,
                    backup_eligible=False))):
            field = rng.choice([("id",), ("rawId",), ("type",), *(
                ("response", key) for key in credential["response"])])
            current = credential[field[0]] if len(field) == 1 else credential[field[0]][field[1]]
            broken = mutate(credential, field, scrambled(rng, current))
            try:
                verify(broken)
            except CeremonyError as error:
                assert str(error) in (CeremonyError.INVALID, CeremonyError.FAILED)


# -- names and the fixtures ----------------------------------------------------------------

def test_authenticator_names():
    assert ceremony.authenticator_name(GOOGLE) == "Google Password Manager"
    assert ceremony.authenticator_name(uuid.UUID("08987058-cadc-4b81-b6e1-30de50dcbe96")) == \
        "Windows Hello"
    assert ceremony.authenticator_name(uuid.UUID(int=0)) == "Passkey"
    assert ceremony.authenticator_name(None) == "Passkey"


def test_the_passkey_app_fixtures(app, passkey_app):
    assert api_for(app).get("/settings").get_json()["passkeys_enabled"] is True
    assert api_for(passkey_app(**{"passkeys.enabled": False})).get(
        "/settings").get_json()["passkeys_enabled"] is False
    rt = app.extensions["gotrue"]
    assert rt.settings.webauthn.rp_origins == (ORIGIN,)
    assert rt.settings.mfa.webauthn_verify_enabled is True
