"""The catalogue agrees with the code: the names the settings code looks up are exactly the names
of its honoured entries, every GoTrue variable of both lists is in it, and each entry says what
an operator needs (why not, which difference)."""

from __future__ import annotations

from collections import Counter

import pytest

from gotrue_web.settings import read
from gotrue_web.settings.catalogue import (
    DIFFERENT,
    HONOURED,
    PLACEHOLDERS,
    STATUSES,
    catalogue,
    honoured_names,
    index,
)
from gotrue_web.settings.env import EnvReader

from ..live.conftest import REPO_ROOT
from .gotrue_variables import EXAMPLE_ENV, SEED_README


def _names_the_settings_code_reads() -> set[str]:
    """Every name looked up while reading a configuration. Tracing on: with it off its
    reader looks nothing else up; every other reader looks up all of its names regardless."""
    env = EnvReader({"GOTRUE_TRACING_ENABLED": "true"})
    read(env)
    return env.asked


def test_every_name_the_settings_code_reads_is_an_honoured_entry():
    assert sorted(_names_the_settings_code_reads() - honoured_names()) == []


def test_every_honoured_entry_is_read_by_the_settings_code():
    assert sorted(honoured_names() - _names_the_settings_code_reads()) == []


@pytest.mark.parametrize("reader, names", [
    ("gunicorn.conf.py", {"WEB_CONCURRENCY"}),
    ("bin/_audit_report.py", {"GOTRUE_WEB_AUDIT_REQUIRED"}),
])
def test_the_variables_read_outside_the_settings_code_are_in_it(reader, names):
    assert honoured_names(reader) == names
    source = (REPO_ROOT / reader).read_text()
    assert all(f'"{name}"' in source for name in names)


@pytest.mark.parametrize("names", [SEED_README, EXAMPLE_ENV], ids=["seed README", "example.env"])
def test_every_variable_of_both_lists_is_catalogued(names):
    assert sorted(set(names) - set(index())) == []


def test_no_name_belongs_to_two_entries():
    counts = Counter(name for entry in catalogue()
                     for name in (*entry.read_names(), *entry.legacy_names()))
    assert sorted(name for name, count in counts.items() if count > 1) == []


def test_each_entry_says_what_an_operator_needs():
    for entry in catalogue():
        assert entry.status in STATUSES, entry.name
        assert entry.default and entry.meaning and entry.group, entry.name
        if entry.status == HONOURED:
            assert not entry.note, entry.name
        else:
            assert len(entry.note) > 20, entry.name  # why, and what instead / which difference


def test_placeholders_are_the_settings_codes_own_lists():
    assert "X" in PLACEHOLDERS["<P>"] and "VERCEL_MARKETPLACE" in PLACEHOLDERS["<P>"]
    assert "SEND_SMS" in PLACEHOLDERS["<HOOK>"]
    assert "PASSWORD_CHANGED_NOTIFICATION" in PLACEHOLDERS["<TEMPLATE>"]


def _status(name: str) -> str:
    return index()[name].entry.status


def test_the_passkey_and_webauthn_variables_are_honoured():
    for name in ("GOTRUE_PASSKEY_ENABLED", "GOTRUE_PASSKEY_MAX_PASSKEYS_PER_USER",
                 "GOTRUE_WEBAUTHN_RP_ID", "GOTRUE_WEBAUTHN_RP_DISPLAY_NAME",
                 "GOTRUE_WEBAUTHN_RP_ORIGINS", "GOTRUE_WEBAUTHN_CHALLENGE_EXPIRY_DURATION",
                 "GOTRUE_RATE_LIMIT_PASSKEY", "GOTRUE_MFA_WEB_AUTHN_ENROLL_ENABLED",
                 "GOTRUE_MFA_WEB_AUTHN_VERIFY_ENABLED"):
        assert index()[name].read and _status(name) == HONOURED, name


def test_the_web3_variables_are_honoured():
    for name in ("GOTRUE_EXTERNAL_WEB3_SOLANA_ENABLED",
                 "GOTRUE_EXTERNAL_WEB3_SOLANA_MAXIMUM_VALIDITY_DURATION",
                 "GOTRUE_EXTERNAL_WEB3_ETHEREUM_ENABLED",
                 "GOTRUE_EXTERNAL_WEB3_ETHEREUM_MAXIMUM_VALIDITY_DURATION",
                 "GOTRUE_RATE_LIMIT_WEB3"):
        assert index()[name].read and _status(name) == HONOURED, name


def test_the_oauth_server_variables_are_honoured():
    for name in ("GOTRUE_OAUTH_SERVER_ENABLED", "GOTRUE_OAUTH_SERVER_ALLOW_DYNAMIC_REGISTRATION",
                 "GOTRUE_OAUTH_SERVER_AUTHORIZATION_PATH", "GOTRUE_OAUTH_SERVER_AUTHORIZATION_TTL",
                 "GOTRUE_OAUTH_SERVER_DEFAULT_SCOPE",
                 "GOTRUE_RATE_LIMIT_OAUTH_DYNAMIC_CLIENT_REGISTER",
                 "GOTRUE_RATE_LIMIT_O_AUTH_DYNAMIC_CLIENT_REGISTER"):
        assert _status(name) == HONOURED, name


def test_saml_and_the_seeds_tracing_variables_are_honoured():
    for name in ("GOTRUE_SAML_ENABLED", "GOTRUE_SAML_PRIVATE_KEY", "GOTRUE_SAML_EXTERNAL_URL",
                 "GOTRUE_SAML_RATE_LIMIT_ASSERTION", "GOTRUE_RATE_LIMIT_SSO"):
        assert index()[name].read and _status(name) == HONOURED
    for name in ("TRACING_HOST", "TRACING_PORT", "GOTRUE_TRACING_HOST", "GOTRUE_TRACING_PORT"):
        assert index()[name].read and _status(name) == DIFFERENT
    for name in ("TRACING_ENABLED", "TRACING_TAGS", "SERVICE_NAME", "GOTRUE_SERVICE_NAME"):
        assert index()[name].read


def test_the_seeds_words_are_never_checked():
    assert {name for name, known in index().items() if not known.entry.checked} == \
        {"HEAD", "JSON", "TOKEN"}
