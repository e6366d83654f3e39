"""What the server does when a part it depends on fails: the database, SMTP, Redis, a signal."""
