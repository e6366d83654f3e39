"""A user's public-key sign-in methods on their console page: passkeys (with the operator's
Remove, through services/passkeys/manage.py as DELETE /admin/users/{id}/passkeys/{pid}) and
Web3 wallets (the identities of provider "web3", read only)."""
