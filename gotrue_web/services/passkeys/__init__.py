"""Passkeys: WebAuthn credentials that sign a user in without a password, registered and
managed at /passkeys and listed by admins (spec idp-passkeys-web3.md section 2).

``ceremony`` builds the options a browser's ``navigator.credentials`` calls take and verifies
what they answer (pure, no database); it serves the WebAuthn MFA factor too.
"""
