"""The metric families this server exports: their names, help texts and labels, in one place.

Imported only when metrics are on (it imports prometheus_client). Built once per process, on
a registry of their own: the exporter of a single process (``flask run``, tests) serves it;
under gunicorn the workers' values go to files that the master collects (metrics_server.py),
so there the registry is only where the families live. The README's "Metrics" section lists
the same families.

Every label value comes from a bounded set: route templates (never a raw path), the HTTP
methods below, status codes, provider and template names from configuration, bucket names.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Seconds: from a health check (milliseconds) up to a slow SMTP exchange or provider call.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Families:
    registry: CollectorRegistry
    http_requests: Counter
    http_duration: Histogram
    sign_ins: Counter
    sign_ups: Counter
    refresh_grants: Counter
    emails: Counter
    sms: Counter
    outbox_pending: Gauge
    rate_limit_refusals: Counter
    pool_checked_out: Gauge
    pool_size: Gauge
    db_cleanup_rows: Counter


def build() -> Families:
    registry = CollectorRegistry()
    return Families(
        registry=registry,
        http_requests=Counter(
            "gotrue_http_requests",
            "HTTP requests answered, by method, route template (the URL rule; \"unmatched\" "
            "when no route matched) and status code.",
            ["method", "route", "status"], registry=registry),
        http_duration=Histogram(
            "gotrue_http_request_duration_seconds",
            "Time taken to answer an HTTP request, by method and route template.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry),
        sign_ins=Counter(
            "gotrue_sign_ins",
            "Sign-ins by method (password, otp, magiclink, oauth, id_token), provider (email, "
            "phone or the OAuth provider) and result (success, or failure: wrong or expired "
            "credentials).",
            ["method", "provider", "result"], registry=registry),
        sign_ups=Counter(
            "gotrue_sign_ups",
            "Users who signed themselves up, by method (email, phone, anonymous, oauth) and "
            "provider.",
            ["method", "provider"], registry=registry),
        refresh_grants=Counter(
            "gotrue_refresh_grants",
            "refresh_token grants by result: rotated, reuse_detected (a revoked token "
            "presented after the reuse interval), refused (any other refusal).",
            ["result"], registry=registry),
        emails=Counter(
            "gotrue_emails",
            "Email delivery attempts by template kind and result: sent, not_sent (no SMTP "
            "host), failed (a retried email counts each failed attempt).",
            ["kind", "result"], registry=registry),
        sms=Counter(
            "gotrue_sms",
            "Text messages by kind, channel and result: sent, failed, test_otp (a configured "
            "test code stood in; nothing was sent).",
            ["kind", "channel", "result"], registry=registry),
        outbox_pending=Gauge(
            "gotrue_mail_outbox_pending",
            "Emails waiting in the mail outbox (due now or later), as the outbox dispatcher "
            "counted them at its last poll.",
            registry=registry, multiprocess_mode="livemostrecent"),
        rate_limit_refusals=Counter(
            "gotrue_rate_limit_refusals",
            "Requests and sends refused by a rate limit or budget, by limit (the bucket).",
            ["limit"], registry=registry),
        pool_checked_out=Gauge(
            "gotrue_db_pool_checked_out_connections",
            "Database connections in use, summed over the live worker processes (sampled).",
            registry=registry, multiprocess_mode="livesum"),
        pool_size=Gauge(
            "gotrue_db_pool_size_connections",
            "Database connections each pool keeps (GOTRUE_DB_MAX_POOL_SIZE), summed over the "
            "live worker processes.",
            registry=registry, multiprocess_mode="livesum"),
        db_cleanup_rows=Counter(
            "gotrue_db_cleanup_rows",
            "Rows the database cleanup deleted (ended_session_tokens_revoked: revoked), by job.",
            ["job"], registry=registry),
    )
