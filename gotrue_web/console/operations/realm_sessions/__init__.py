"""The realm-wide sessions page: every live session of every user, and signing them out.

- filters.py: what the page asks for (user, IP, AAL, last activity), read from the query
  string, and the WHERE clauses that select it (live sessions only, by the users list's rule).
- listing.py: keyset pages over the last activity (sessions.updated_at, which every refresh
  sets, and which is indexed), the capped count and the exact one a sign-out confirms.
- sign_out.py: revoking one session, and signing out everyone a filter matches in batches of
  users, with the audit entries the user page's session actions write.
"""
