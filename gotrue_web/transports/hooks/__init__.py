"""Calling an auth hook: over HTTP (transports.hooks.http, Standard Webhooks signatures) or as a
PostgreSQL function (transports.hooks.pg). A transport reports what happened; what the client is
told is services.hooks' business."""

from __future__ import annotations


class HookTransportError(Exception):
    """The hook could not be asked, or its answer could not be read."""

    attempts = 1


class HookDeadlineExceeded(HookTransportError):
    """The whole budget for the call (retries included) ran out."""


class HookUnreachable(HookTransportError):
    """Every attempt failed before an answer (refused, reset, DNS)."""


class HookSignatureError(HookTransportError):
    """A secret this server cannot sign with (an asymmetric ``v1a`` secret)."""


class HookPayloadTooLarge(HookTransportError):
    """The answer's body was over the size limit."""

    status: int | None = None


class HookFunctionError(HookTransportError):
    """The PostgreSQL function failed (missing, raised, or ran past its statement timeout)."""
