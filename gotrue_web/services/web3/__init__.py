"""Web3 sign-in: Ethereum (EIP-4361 messages, EIP-191 signatures) and Solana (SIWS messages,
ed25519) wallets at POST /token?grant_type=web3 (spec idp-passkeys-web3.md section 3).

``messages`` reads the signed text, ``signatures`` checks who signed it, ``sign_in`` runs the
checks in GoTrue's order and signs the wallet's account in.
"""
