"""redirect_to validation (api-contract section 7; security.md B2 #29): the site itself or an
allow-list glob; everything else silently becomes the site URL."""

from __future__ import annotations

import pytest

from gotrue_web.security.redirects import glob_pattern, is_valid, resolve

SITE = "https://site.test"
LOCAL_SITE = "http://localhost:3000"


@pytest.mark.parametrize("target", [
    "https://site.test",
    "https://site.test/",
    "https://site.test/welcome?next=%2Fhome",
    "https://SITE.test/welcome",
    "https://site.test:443/welcome",  # the default port is the same port
    "https://site.test/#/dashboard",
])
def test_same_site_is_accepted(target):
    assert resolve(target, SITE, ()) == target


@pytest.mark.parametrize("target", [
    "https://site.test:8443/welcome",  # another port
    "http://site.test/welcome",  # another scheme
    "https://app.site.test/",  # a subdomain is another host
])
def test_same_host_elsewhere_is_refused(target):
    assert resolve(target, SITE, ()) == SITE


@pytest.mark.parametrize(("site", "target"), [
    (LOCAL_SITE, "http://localhost:5173/callback"),
    (LOCAL_SITE, "http://localhost/callback"),
    ("http://127.0.0.1:3000", "http://127.0.0.1:8080/callback"),
    ("http://[::1]:3000", "http://[::1]:4000/"),
])
def test_any_port_on_loopback(site, target):
    assert resolve(target, site, ()) == target


def test_loopback_names_do_not_stand_in_for_each_other():
    assert resolve("http://127.0.0.1:3000/", LOCAL_SITE, ()) == LOCAL_SITE


@pytest.mark.parametrize(("pattern", "target", "accepted"), [
    # '*' stays within one host label or path segment
    ("https://*.example.com/**", "https://app.example.com/callback", True),
    ("https://*.example.com/**", "https://a.b.example.com/callback", False),
    ("https://*.example.com/**", "https://example.com/callback", False),
    ("https://*.example.com/**", "https://app.example.com", False),
    ("http://localhost:3000/*", "http://localhost:3000/callback", True),
    ("http://localhost:3000/*", "http://localhost:3000/a/b", False),
    # '**' crosses separators
    ("https://**.example.com/**", "https://a.b.example.com/deep/path?x=1", True),
    ("http://localhost:3000/**", "http://localhost:3000/a/b/c", True),
    # alternatives, single characters and classes
    ("https://{app,admin}.example.com/**", "https://admin.example.com/x", True),
    ("https://{app,admin}.example.com/**", "https://evil.example.com/x", False),
    ("https://app?.example.com/", "https://app1.example.com/", True),
    ("https://app?.example.com/", "https://app12.example.com/", False),
    ("https://app[0-9].example.com/", "https://app7.example.com/", True),
    ("https://app[!0-9].example.com/", "https://app7.example.com/", False),
    # exact entries, including app schemes
    ("myapp://login-callback", "myapp://login-callback", True),
    ("myapp://login-callback", "myapp://login-callback/x", False),
    # the fragment is ignored when matching
    ("https://app.example.com/callback", "https://app.example.com/callback#token=abc", True),
    ("http://127.0.0.1:8080/**", "http://127.0.0.1:8080/done", True),
])
def test_allow_list_globs(pattern, target, accepted):
    expected = target if accepted else SITE
    assert resolve(target, SITE, (pattern,)) == expected


def test_any_matching_entry_is_enough():
    allow = ("myapp://cb", "https://*.example.com/**")
    assert resolve("https://docs.example.com/x", SITE, allow) == "https://docs.example.com/x"


@pytest.mark.parametrize("target", [
    "//evil.test",
    "//evil.test/path",
    "https://site.test.evil.test",
    "https://site.test.evil.test/",
    "https://site.test@evil.test",
    "https://site.test:443@evil.test/",
    "https://site.test%2F@evil.test/",
    "https://evil.test@site.test/",  # credentials only serve to disguise a target
    "https://evil.test\\@site.test/",  # browsers read the backslash as '/': host evil.test
    "https://2130706433/",
    "https://0x7f000001/",
    "https://3232235777/",
    "https://10.0.0.1/",
    "https://192.168.1.1:443/",
    "https://[2001:db8::1]/",
    "javascript:alert(document.domain)",
    "JavaScript:alert(1)//site.test",
    "data:text/html,<script>alert(1)</script>",
    "https:evil.test",
    "https:/evil.test",
    "/\\evil.test",
    " https://evil.test",
    "https://evil.test/https://site.test",
    "https://site.test:99999/",
    "",
])
def test_hostile_targets_become_the_site_url(target):
    assert resolve(target, SITE, ("https://*.example.com/**", "myapp://cb")) == SITE


@pytest.mark.parametrize("target", [
    "https://evil.test/.example.com/",
    "https://evil.test?.example.com/",
    "https://evil.test#.example.com/",
    "https://app.example.com.evil.test/",
    "https://a@b.example.com/",
])
def test_globs_cannot_be_stretched(target):
    assert resolve(target, SITE, ("https://*.example.com/**",)) == SITE


@pytest.mark.parametrize("target", [
    "http://10.0.0.5:3000/callback", "http://2130706433:3000/callback",
])
def test_ip_literals_are_refused_even_when_listed(target):
    assert resolve(target, SITE, ("http://*:3000/**", "http://10.0.0.5:3000/**")) == SITE


def test_missing_value_becomes_the_site_url():
    assert resolve(None, SITE, ()) == SITE
    assert not is_valid(None, SITE, ())


def test_ip_site_url_still_accepts_itself_on_loopback():
    assert resolve("http://127.0.0.1:3000/x", "http://127.0.0.1:3000", ()) == \
        "http://127.0.0.1:3000/x"


@pytest.mark.parametrize("glob", ["https://{a,b.example.com", "https://a}.example.com",
                                  "https://[a-.example.com", "https://x[!].example.com"])
def test_malformed_globs_raise_value_error(glob):
    with pytest.raises(ValueError):
        glob_pattern(glob)


@pytest.mark.parametrize(("glob", "text", "matches"), [
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("a.b", "axb", False),  # '.' is literal
    ("a+b(c)", "a+b(c)", True),
    ("[^]x", "^x", True),
])
def test_glob_literals(glob, text, matches):
    assert bool(glob_pattern(glob).match(text)) is matches


# --- matched as a browser reads it (abuse defences, finding 2) ---------------------------------

WILDCARD = ("https://*.example.com/**",)


@pytest.mark.parametrize("target", [
    # U+FF0E and a backslash: `*` ran up to the backslash, and a browser goes to evil.com.
    "https://evil\uff0ecom\\.example.com/",
    "https://evil\u3002com\\.example.com/",
    "https://evil.com\\.example.com/",
    "https://evil.com\\@app.example.com/",
    # A percent-escape in the host: a browser decodes it, matching here would not.
    "https://evil%2ecom%2f.example.com/",
    # Tabs and line breaks are dropped by browsers (and would break the Location header).
    "https://app.example.com/\r\nSet-Cookie: a=b",
    "https://app.exa\tmple.com/",
    "https://app.example.com/ next",
])
def test_values_a_browser_reads_differently_are_refused(target):
    assert is_valid(target, SITE, WILDCARD) is False
    assert resolve(target, SITE, WILDCARD) == SITE


@pytest.mark.parametrize("target", [
    "https://app.example.com/callback",
    "https://APP.Example.COM/callback",
    "HTTPS://app.example.com/callback#frag",
    # An internationalised host is matched in the form a browser resolves.
    "https://b\u00fccher.example.com/",
])
def test_hosts_are_matched_in_the_form_a_browser_resolves(target):
    assert is_valid(target, SITE, WILDCARD) is True


def test_unicode_dots_are_dots():
    # The browser goes to evil.com.example.com: a subdomain, and `*` is one label only.
    assert is_valid("https://evil\uff0ecom.example.com/", SITE, WILDCARD) is False
    # ... and where a browser really goes is what is judged: app.example.com is allowed.
    assert is_valid("https://app\uff0eexample.com/", SITE, WILDCARD) is True
    assert is_valid("https://deep\uff0eapp.example.com/", SITE, ("https://**.example.com/**",))
