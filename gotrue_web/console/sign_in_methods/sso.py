"""The SSO page (/console/sso): what to give an identity provider (this server's EntityID, ACS
and metadata URLs), the registered identity providers, and forms to add, edit, disable, enable
and delete them.

Every change goes through services/sso/providers.py with the body the admin API would get
(console/operations/sso_providers/), so its refusals are the API's, shown in the form (422)
rather than answered as errors. Each POST commits once. While GOTRUE_SAML_ENABLED is off the
page offers no forms and the POSTs are refused as the admin API refuses them.
"""

from __future__ import annotations

from flask import abort, request, url_for

from ...errors import GoTrueError
from ...extensions import db
from ...runtime import current_runtime
from ..context import actor, client_ip
from ..htmx import done, is_htmx, refused, render_page_or_fragment, toast
from ..operations.sso_providers import changes, forms, report

PAGE = "console/sso/index.html"
LIST = "console/sso/_providers.html"
ADD_FORM = "console/sso/_add.html"
PROVIDER_PAGE = "console/sso/provider.html"
EDIT_FORM = "console/sso/_edit.html"
DELETE_CONFIRM = "console/sso/_delete.html"
# Fields of the add and edit forms given back when the form is shown again.
_FIELDS = ("metadata_xml", "metadata_url", "domains", "name_id_format", "attribute_mapping",
           "resource_id")


def _common() -> dict:
    rt = current_runtime()
    return {"section": "sso", "enabled": rt.settings.saml.enabled,
            "sp": report.service_provider_urls(rt), "name_id_choices": report.name_id_choices()}


def _list_context(**extra) -> dict:
    return {**_common(), "rows": report.rows(), "typed": {}, "error": None, **extra}


def _provider_or_404(provider_id: str):
    provider = report.find(provider_id)
    if provider is None:
        abort(404, description="This SSO identity provider does not exist (any more).")
    return provider


def _provider_context(provider, **extra) -> dict:
    row = report.row_of(provider)
    typed = {"domains": "\n".join(row.domains), "name_id_format": row.name_id_format,
             "attribute_mapping": row.mapping_text, "resource_id": row.resource_id}
    return {**_common(), "row": row, "typed": typed, "error": None, "deleting": False,
            **extra}


def _typed() -> dict:
    return {name: request.form.get(name, "") for name in _FIELDS}


def _form_again(page: str, fragment: str, message: str, context: dict):
    """The form once more with the refusal and what was typed (422, which htmx swaps in)."""
    response = render_page_or_fragment(page, fragment, 422, **{**context, "error": message})
    return toast(response, message, "error") if is_htmx() else response


# --- pages --------------------------------------------------------------------------------------


def sso():
    return render_page_or_fragment(PAGE, LIST, **_list_context())


def sso_provider(provider_id: str):
    return render_page_or_fragment(PROVIDER_PAGE, EDIT_FORM,
                                   **_provider_context(_provider_or_404(provider_id)))


def sso_confirm_delete(provider_id: str):
    """The confirm step of Delete: a GET that changes nothing; the POST below deletes."""
    provider = _provider_or_404(provider_id)
    return render_page_or_fragment(PROVIDER_PAGE, DELETE_CONFIRM,
                                   **_provider_context(provider, deleting=True))


# --- changes ------------------------------------------------------------------------------------


def sso_create():
    rt = current_runtime()
    try:
        provider = changes.create(rt, forms.create_body(request.form), actor(), client_ip())
    except GoTrueError as error:
        db.session.rollback()
        if not rt.settings.saml.enabled:  # no form to show it in: "SAML 2.0 is disabled"
            return refused(error.message, location=url_for("console.sso"))
        return _form_again(PAGE, ADD_FORM, error.message, _list_context(typed=_typed()))
    entity_id, provider_id = provider.saml.entity_id, provider.id
    db.session.commit()
    return done(f"Identity provider {entity_id} added.",
                location=url_for("console.sso_provider", provider_id=provider_id))


def sso_update(provider_id: str):
    rt = current_runtime()
    provider = _provider_or_404(provider_id)
    try:
        changed = changes.update(rt, provider, forms.update_body(request.form), actor(),
                                 client_ip())
    except GoTrueError as error:
        db.session.rollback()
        if not rt.settings.saml.enabled:
            return refused(error.message,
                           location=url_for("console.sso_provider", provider_id=provider_id))
        provider = _provider_or_404(provider_id)
        return _form_again(PROVIDER_PAGE, EDIT_FORM, error.message,
                           _provider_context(provider, typed=_typed()))
    entity_id = provider.saml.entity_id
    db.session.commit()
    message = (f"Identity provider {entity_id} saved: " + ", ".join(
        name.replace("_", " ") for name in changed) + " changed." if changed
        else "Nothing changed.")
    return done(message, location=url_for("console.sso_provider", provider_id=provider_id))


def _switch(provider_id: str, disabled: bool):
    rt = current_runtime()
    provider = _provider_or_404(provider_id)
    location = url_for("console.sso_provider", provider_id=provider_id)
    entity_id = provider.saml.entity_id
    try:
        changed = changes.set_disabled(rt, provider, disabled, actor(), client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message, location=location)
    db.session.commit()
    state = "disabled" if disabled else "enabled"
    message = (f"Identity provider {entity_id} {state}: " + (
        "its users cannot sign in through it." if disabled else "its users can sign in again.")
        if changed else f"Identity provider {entity_id} was {state} already.")
    return done(message, location=location)


def sso_disable(provider_id: str):
    return _switch(provider_id, True)


def sso_enable(provider_id: str):
    return _switch(provider_id, False)


def sso_delete(provider_id: str):
    rt = current_runtime()
    provider = _provider_or_404(provider_id)
    try:
        entity_id = changes.delete(rt, provider, actor(), client_ip())
    except GoTrueError as error:
        db.session.rollback()
        return refused(error.message,
                       location=url_for("console.sso_provider", provider_id=provider_id))
    db.session.commit()
    return done(f"Identity provider {entity_id} deleted. Its users and their identities stay.",
                location=url_for("console.sso"))
