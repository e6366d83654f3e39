"""Security primitives with no Flask and no database: access tokens and the key ring, password
hashing and strength rules, redirect allow-list matching, one-time codes and PKCE."""
