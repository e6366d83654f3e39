"""Multi-factor authentication routes: a user's factors, their challenges and verification."""
