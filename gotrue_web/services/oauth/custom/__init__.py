"""Custom OAuth/OIDC providers (spec oauth-sso.md section 6): providers an operator adds through
/admin/custom-providers and users pick with ``provider=custom:<id>``.

admin.py holds the admin API's rules (validation, discovery, CRUD), checks.py the field and URL
checks, provider.py the sign-in flow, id_token_source.py the id_token grant's ``custom:<id>``
row, and secret_box.py the encryption of the stored client secrets.
"""
