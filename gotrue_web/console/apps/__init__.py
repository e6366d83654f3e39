"""Console pages about this server as an OAuth 2.1 / OpenID Connect authorization server: the
apps (registered OAuth clients) page, ``apps_page``."""
