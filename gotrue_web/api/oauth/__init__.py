"""External OAuth sign-in: GET /authorize (authorize.py) and GET|POST /callback (callback.py)."""
