"""A request's database connection lost after its last statement and before the request ends
(a database restart at that moment): the answer already made stands, no 500 and no traceback;
one warning says so, and the next request gets a new connection. PostgreSQL and MariaDB (a
server session can be ended from another connection; SQLite has none)."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from gotrue_web.extensions import db

from ..conftest import api_for

pytestmark = pytest.mark.usefixtures("test_database")

_OWN_SESSION = {"postgresql": "SELECT pg_backend_pid()", "mysql": "SELECT CONNECTION_ID()"}
_END_SESSION = {"postgresql": "SELECT pg_terminate_backend({})", "mysql": "KILL {}"}


@pytest.fixture
def ended_after_the_view(make_app, test_database):
    """An app whose requests' session connection is ended from another connection once the
    view has answered (after_request), before Flask-SQLAlchemy's teardown rolls it back."""
    if test_database.backend == "sqlite":
        pytest.skip("SQLite has no server session to end")
    app = make_app()
    killer = sa.create_engine(test_database.admin_url)
    ended = []

    @app.after_request
    def end_the_connection(response):
        if db.session().in_transaction():
            dialect = db.engine.dialect.name
            backend = db.session.execute(sa.text(_OWN_SESSION[dialect])).scalar_one()
            with killer.begin() as connection:
                connection.execute(sa.text(_END_SESSION[dialect].format(int(backend))))
            ended.append(backend)
        return response

    yield app, ended
    killer.dispose()


def test_a_connection_lost_before_teardown_leaves_the_answer_as_it_was(
        ended_after_the_view, caplog):
    app, ended = ended_after_the_view
    api = api_for(app)
    with caplog.at_level(logging.WARNING, logger="gotrue_web.db"):
        response = api.get("/ready")
    assert ended, "the request used no session connection"
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["checks"]["database"] == "ok"
    lost = [record for record in caplog.records if record.name == "gotrue_web.db"]
    assert [record.levelname for record in lost] == ["WARNING"]
    assert "lost before it was released" in lost[0].getMessage()
    assert lost[0].exc_info is None
    # The next request is served on a new connection.
    assert api.get("/ready").status_code == 200
    assert len(ended) == 2 and ended[0] != ended[1]
