"""The console's text messages beside its mail: the SMS log, the SMS template's preview and
the test send, and how a phone number is shown (masked) in them."""
