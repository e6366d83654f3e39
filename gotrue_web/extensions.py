"""Flask extensions, created unbound and attached to an app by the factory."""

from flask_mail import Mail
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from .db import Base

db = SQLAlchemy(model_class=Base, session_options={"expire_on_commit": False})
migrate = Migrate()
csrf = CSRFProtect()
mail = Mail()


def orm_transaction_open() -> bool:
    """Whether this request's ORM session has begun a transaction; never creates the session
    just to ask (the hot paths run without one)."""
    return db.session.registry.has() and db.session().in_transaction()
