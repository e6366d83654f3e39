"""Multi-factor authentication: factors (enrolment, removal, the admin's edits), challenges
and their verification, which raises a session to aal2 (GoTrue's mfa.go)."""
