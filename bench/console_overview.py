"""The console Overview's part of bench/console_users.py: a month of activity on top of the
generated users, and the timing of the overview for each range (bench/README.md).

Activity is generated for the 31 days before console_users.NOW, scaled to the user count (per
million users and per day): 30,000 sign-ins (a session with its first amr claim: password,
otp, oauth, anonymous; 5 % also step up with TOTP), 1,500 MFA challenges (one in ten with 1 to
3 wrong codes), 8,000 mail log entries (1.5 % failed) and 1,200 SMS log entries (3 % failed).
More in the afternoon than at night, written in time order as a server appends them. Core
executemany in batches, COPY on PostgreSQL.
"""

from __future__ import annotations

import ipaddress
import math
import random
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa

from gotrue_web.console.operations import overview
from gotrue_web.console.operations.overview import activity, attention, ranges
from gotrue_web.extensions import db
from gotrue_web.models import AMRClaim, Challenge, Factor, MailLogEntry, Session, SMSLogEntry, User

DAYS = 31
PER_MILLION_PER_DAY = {"sign_ins": 30_000, "challenges": 1_500, "mail": 8_000, "sms": 1_200}
METHODS = (("password", 0.58), ("otp", 0.17), ("oauth", 0.20), ("anonymous", 0.05))
TEMPLATES = ("confirmation", "magic_link", "recovery", "invite", "email_change")
TABLES = {"sessions": Session.__table__, "mfa_amr_claims": AMRClaim.__table__,
          "mfa_challenges": Challenge.__table__, "mail_log": MailLogEntry.__table__,
          "sms_log": SMSLogEntry.__table__}
SEED = 20261205
BATCH = 20_000


def _moment(rng: random.Random, now: datetime) -> datetime:
    """A time in the DAYS before ``now``, twice as likely at 15:00 UTC as at 03:00."""
    while True:
        moment = now - timedelta(days=DAYS) * rng.random()
        hour = moment.hour + moment.minute / 60
        if rng.random() < 0.5 + 0.25 * (1 - math.cos((hour - 3) / 24 * 2 * math.pi)):
            return moment


def _method(rng: random.Random) -> str:
    pick = rng.random()
    for name, share in METHODS:
        if pick < share:
            return name
        pick -= share
    return METHODS[0][0]


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _sign_ins(rng, now, moments, user_ids):
    sessions, claims = [], []
    for created in moments:
        session_id = _uuid(rng)
        # Refreshed for a while after, never past now.
        refreshed = min(now, created + timedelta(hours=72) * rng.random() ** 2)
        sessions.append({"id": session_id, "user_id": rng.choice(user_ids),
                         "created_at": created, "updated_at": refreshed, "aal": "aal1",
                         "user_agent": "supabase-js/2.46.1",
                         "ip": str(ipaddress.IPv4Address(rng.getrandbits(32)))})
        claims.append({"id": _uuid(rng), "session_id": session_id, "created_at": created,
                       "updated_at": created, "authentication_method": _method(rng)})
        if rng.random() < 0.05:
            stepped = created + timedelta(seconds=40)
            claims.append({"id": _uuid(rng), "session_id": session_id, "created_at": stepped,
                           "updated_at": stepped, "authentication_method": "totp"})
    return {"sessions": sessions, "mfa_amr_claims": claims}


def _challenges(rng, now, moments, factor_ids):
    rows = []
    for created in moments:
        wrong = rng.choice((1, 1, 2, 3)) if rng.random() < 0.1 else 0
        rows.append({"id": _uuid(rng), "factor_id": rng.choice(factor_ids),
                     "created_at": created, "ip_address": "198.51.100.7",
                     "failed_attempts": wrong,
                     "verified_at": None if wrong else created + timedelta(seconds=20)})
    return {"mfa_challenges": rows}


def _messages(rng, now, mail_moments, sms_moments, user_ids):
    mail, sms = [], []
    for serial, created in enumerate(mail_moments):
        failed = rng.random() < 0.015
        mail.append({"id": _uuid(rng), "created_at": created,
                     "template": rng.choice(TEMPLATES),
                     "recipient": f"someone{serial}@example.com", "subject": "Your link",
                     "status": "failed" if failed else "sent",
                     "error": "421 try again later" if failed else None,
                     "user_id": rng.choice(user_ids)})
    for serial, created in enumerate(sms_moments):
        failed = rng.random() < 0.03
        sms.append({"id": _uuid(rng), "created_at": created, "kind": "confirmation",
                    "recipient": f"1555{serial:07d}", "channel": "sms", "provider": "twilio",
                    "status": "failed" if failed else "sent",
                    "message_id": None if failed else f"SM{serial:032d}",
                    "error": "21610 unsubscribed" if failed else None, "user_id": None})
    return {"mail_log": mail, "sms_log": sms}


def drop_activity(app) -> None:
    """Delete the generated activity (--refill-activity); the users fill writes none of it."""
    with app.app_context():
        with db.engine.begin() as connection:
            for table in reversed(list(TABLES.values())):
                connection.execute(table.delete())
        db.engine.dispose()


def has_activity() -> bool:
    return db.session.execute(sa.select(MailLogEntry.id).limit(1)).first() is not None


def fill_activity(app, backend: str, users: int, now: datetime) -> None:
    """Add the month of activity (once: a database that has a mail log is left as it is)."""
    started = time.monotonic()
    rng = random.Random(SEED)
    scale = users / 1_000_000
    per_day = {name: max(1, round(value * scale)) for name, value in PER_MILLION_PER_DAY.items()}
    with app.app_context():
        user_ids = list(db.session.execute(
            sa.select(User.id).where(User.last_sign_in_at.is_not(None)).limit(200_000))
            .scalars())
        factor_ids = list(db.session.execute(sa.select(Factor.id).limit(20_000)).scalars())
        db.session.remove()
        engine = db.engine
        writer = _copy_writer(engine) if backend == "postgresql" else _core_writer(engine)
        jobs: list[tuple[str, Callable[[list], dict]]] = [
            ("sign-ins", lambda times: _sign_ins(rng, now, times, user_ids)),
            ("MFA challenges", lambda times: _challenges(rng, now, times, factor_ids)
             if factor_ids else {}),
            ("mail", lambda times: _messages(rng, now, times, [], user_ids)),
            ("sms", lambda times: _messages(rng, now, [], times, user_ids)),
        ]
        totals = dict(zip((name for name, _ in jobs),
                          (per_day[key] * DAYS for key in PER_MILLION_PER_DAY)))
        for name, make in jobs:
            # In time order, as a server appends them (rows of one hour sit together).
            moments = sorted(_moment(rng, now) for _ in range(totals[name]))
            for first in range(0, len(moments), BATCH):
                writer(make(moments[first:first + BATCH]))
            print(f"  {name}: {totals[name]:,} over {DAYS} days", flush=True)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in TABLES:
                if backend == "postgresql":
                    connection.execute(sa.text(f"VACUUM ANALYZE {table}"))
                elif backend == "mysql":
                    connection.execute(sa.text(f"ANALYZE TABLE {table}"))
        engine.dispose()
    print(f"  activity filled in {time.monotonic() - started:.0f} s", flush=True)


def _core_writer(engine):
    def write(rows: dict) -> None:
        with engine.begin() as connection:
            for name, table_rows in rows.items():
                if table_rows:
                    connection.execute(TABLES[name].insert(), table_rows)
    return write


def _copy_writer(engine):
    def write(rows: dict) -> None:
        raw = engine.raw_connection()
        try:
            with raw.cursor() as cursor:
                for name, table_rows in rows.items():
                    if not table_rows:
                        continue
                    columns = list(table_rows[0])
                    with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as stream:
                        for row in table_rows:
                            stream.write_row([row[column] for column in columns])
            raw.commit()
        finally:
            raw.close()
    return write


# --- timing -----------------------------------------------------------------------------------


def cases(app, now: datetime, make_case) -> list:
    """The overview's timings: for each range the whole computation with nothing cached (a
    fresh process), then with the finished hours and days cached (the minute-long cache has
    run out), and each chart's query and the attention list alone, uncached."""
    rt = app.extensions["gotrue"]
    rt.clock = lambda: now
    found = []
    for name, chosen in overview.RANGES.items():
        found.append(make_case("overview", f"{name}: whole page, nothing cached",
                               _whole(rt, chosen, warm=False)))
        found.append(make_case("overview", f"{name}: whole page, past buckets cached",
                               _whole(rt, chosen, warm=True)))
        wanted = ranges.buckets(chosen, now)
        for metric in activity.METRICS:
            found.append(make_case("overview", f"{name}: chart {metric.name}",
                                   _timed(lambda m=metric, w=wanted: [
                                       m.count(b.start, b.end) for b in w])))
        found.append(make_case("overview", f"{name}: sessions used (capped count)",
                               _timed(lambda s=wanted[0].start: activity.sessions_used_since(
                                   s, overview.FACT_CAP))))
    found.append(make_case("overview", "needs attention (all five)", _timed(
        lambda: attention.items(rt, now, attention.read_limiter(rt)))))
    return found


def _timed(call):
    def run():
        started = time.perf_counter()
        call()
        elapsed = (time.perf_counter() - started) * 1000
        db.session.remove()
        return elapsed, None, 1
    return run


def _whole(rt, chosen, warm: bool):
    kept: list[overview.OverviewCache] = []

    def run():
        if warm and not kept:
            # Once, at the warm-up run: what a first page view leaves in the cache.
            kept.append(overview.OverviewCache())
            overview.compute(rt, chosen, kept[0])
            db.session.remove()
        cache = overview.OverviewCache(finished=dict(kept[0].finished)) if warm \
            else overview.OverviewCache()
        started = time.perf_counter()
        result = overview.compute(rt, chosen, cache)
        elapsed = (time.perf_counter() - started) * 1000
        db.session.remove()
        return elapsed, None, len(result.charts)
    return run


if __name__ == "__main__":
    sys.exit("run bench/console_users.py (--only overview)")
