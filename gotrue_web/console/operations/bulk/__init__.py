"""Bulk actions on the users list: a selection (ticked rows or every user the filters match),
an action done to each user by the single-user operations, a typed count to start, and a run
that goes batch by batch, one request and one transaction each, its state signed and carried
by the browser (run_token), so any worker of the server can take the next batch."""
