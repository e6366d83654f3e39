"""The console's SSO page (console/sign_in_methods/sso.py): what it shows (``report``), how its
forms become the body the admin API receives (``forms``), and the changes, made through
services/sso/providers.py as the admin API makes them and audited (``changes``)."""
