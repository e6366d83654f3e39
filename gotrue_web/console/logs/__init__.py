"""The console's log pages: the audit log, the mail log and the SMS log, and the paging and
time-range parsing they share."""
