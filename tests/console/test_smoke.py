"""The console is mounted, needs a session, and refuses POSTs without a CSRF token."""


def test_pages_redirect_to_login_without_a_session(anonymous_console):
    response = anonymous_console.get("/console/users")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/console/login")


def test_sign_in_then_profile(console):
    response = console.get("/console/profile")
    assert response.status_code == 200
    assert "operator@example.com" in response.get_data(as_text=True)


def test_post_without_csrf_token_is_refused(console):
    response = console.post("/console/profile/totp", csrf=False)
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)
