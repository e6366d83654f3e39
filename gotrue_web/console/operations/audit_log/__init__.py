"""The console's reading of the audit log: searching it (search) and saying what each entry
records in words (summaries)."""
