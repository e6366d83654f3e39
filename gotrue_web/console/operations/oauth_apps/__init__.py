"""The console's apps page (console/apps/) and the OAuth grants on a user's page: what they
show and the audited changes, made through services/oauth_server/ (clients.py, grants.py) as
the admin API and the user API make them."""
