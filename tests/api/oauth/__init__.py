"""External OAuth sign-in against fake providers on loopback ports."""
