"""The client address behind a reverse proxy: X-Forwarded-For counts only from trusted peers."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from gotrue_web.models import AuditLogEntry
from gotrue_web.settings import SettingsError, from_env

from .conftest import table_rows


def signup_ip(app, peer: str, forwarded: str | None) -> str:
    """Sign up through the API from ``peer``; the IP the audit log recorded for it."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = peer
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    email = f"user-{len(table_rows(app, sa.select(AuditLogEntry.id)))}@example.com"
    response = client.post("/signup", json={"email": email, "password": "password-123"},
                           headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    rows = table_rows(app, sa.select(AuditLogEntry.ip_address, AuditLogEntry.payload))
    [ip] = {ip for ip, payload in rows if payload.get("actor_username") == email}
    return ip


def test_loopback_proxy_is_trusted_by_default(app):
    # The proxy appends the client it saw; anything to the left came from the client.
    assert signup_ip(app, "127.0.0.1", "10.9.9.9, 203.0.113.5") == "203.0.113.5"
    assert signup_ip(app, "127.0.0.1", None) == "127.0.0.1"


def test_other_peers_cannot_choose_their_address(app):
    assert signup_ip(app, "198.51.100.20", "203.0.113.5") == "198.51.100.20"


def test_configured_proxy_networks(make_app):
    app = make_app(**{"api.trusted_proxies": ("10.0.0.0/8",)})
    assert signup_ip(app, "10.1.2.3", "203.0.113.7") == "203.0.113.7"
    assert signup_ip(app, "127.0.0.1", "203.0.113.7") == "127.0.0.1"
    anyone = make_app(**{"api.trusted_proxies": ("*",)})
    assert signup_ip(anyone, "198.51.100.20", "203.0.113.8") == "203.0.113.8"


def test_forwarded_allow_ips_is_read_and_checked(tmp_path):
    base = {"GOTRUE_SITE_URL": "http://localhost:3000", "API_EXTERNAL_URL": "http://localhost",
            "GOTRUE_JWT_SECRET": "x" * 40}
    settings = from_env({**base, "FORWARDED_ALLOW_IPS": "10.0.0.1, 192.168.0.0/16"},
                        env_file=tmp_path / "none")
    assert settings.api.trusted_proxies == ("10.0.0.1", "192.168.0.0/16")
    assert from_env(base, env_file=tmp_path / "none").api.trusted_proxies == ("127.0.0.1", "::1")
    with pytest.raises(SettingsError, match="FORWARDED_ALLOW_IPS"):
        from_env({**base, "FORWARDED_ALLOW_IPS": "proxy.internal"}, env_file=tmp_path / "none")
