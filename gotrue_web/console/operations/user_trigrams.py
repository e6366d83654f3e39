"""MariaDB's substring index, read: each user's distinct trigrams in users_search_trigrams
(migration 0012) and, for the users in a kept state (unconfirmed, invited, anonymous), the same
trigrams once more per state in users_search_state_trigrams (migration 0019), so that common
text within a state is a short range of its own.

A text's users are looked up by its three rarest trigrams (a superset of the users holding
the text: the caller checks the text itself on the rows it reads).
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ...extensions import db
from ...models import User
from ...models.search_indexes import SEARCH_STATES

_TRIGRAMS = sa.table("users_search_trigrams", sa.column("trigram"), sa.column("user_id"))
_STATE_TRIGRAMS = sa.table("users_search_state_trigrams", sa.column("state"),
                           sa.column("trigram"), sa.column("user_id"))


@dataclass(frozen=True)
class Lookup:
    # The text's rarest trigrams, rarest first (at most three).
    rarest: list[str]
    # A kept state whose users alone are looked at ("": every user).
    state: str
    # How many users have the rarest trigram, counted up to the lookup's count_to + 1.
    found: int

    def _rows(self, alias: sa.TableClause, gram: str) -> list:
        rows = [alias.c.trigram == gram]
        return [*rows, alias.c.state == self.state] if self.state else rows

    def _alias(self, number: int) -> sa.TableClause:
        return (_STATE_TRIGRAMS if self.state else _TRIGRAMS).alias(f"t{number}")

    def users(self):
        """``users.id IN`` the users having each of the rarest trigrams."""
        first = self._alias(0)
        joined = first
        for number, gram in enumerate(self.rarest[1:], start=1):
            other = self._alias(number)
            joined = joined.join(other, sa.and_(other.c.user_id == first.c.user_id,
                                                *self._rows(other, gram)))
        return User.id.in_(sa.select(first.c.user_id).select_from(joined)
                           .where(*self._rows(first, self.rarest[0])))

    def users_from(self, user_id: sa.Column, condition):
        """``users.id IN`` the users of a filter's rows (``user_id`` of the rows of its table
        meeting ``condition``) having each of the rarest trigrams: the filter's rows first,
        then each user's trigram rows looked up by key (a lookup per filter user; starting
        from the text's rows would cost one per text user, many more)."""
        joined = user_id.table
        for number, gram in enumerate(self.rarest):
            trigrams = self._alias(number)
            joined = joined.join(trigrams, sa.and_(trigrams.c.user_id == user_id,
                                                   *self._rows(trigrams, gram)))
        return User.id.in_(sa.select(user_id).select_from(joined).where(condition)
                           .prefix_with("STRAIGHT_JOIN", dialect="mysql"))


def look_up(text: str, state: str, count_to: int) -> Lookup:
    """The rarest of ``text``'s trigrams (among ``state``'s users when it is a kept state),
    each counted up to ``count_to`` + 1 through the index."""
    state = state if state in SEARCH_STATES else ""
    table = "users_search_state_trigrams" if state else "users_search_trigrams"
    in_state = "g.state = :kept_state AND " if state else ""
    grams = sorted({text[i:i + 3] for i in range(len(text) - 2)})
    probes = " UNION ALL ".join(
        f"SELECT {i} AS n, (SELECT COUNT(*) FROM (SELECT 1 FROM {table} g "
        f"WHERE {in_state}g.trigram = :g{i} LIMIT :limit) x) AS found"
        for i in range(len(grams)))
    params = {f"g{i}": gram for i, gram in enumerate(grams)}
    counted = db.session.execute(sa.text(probes), {
        **params, **({"kept_state": state} if state else {}), "limit": count_to + 1}).all()
    by_rarity = sorted(counted, key=lambda row: (row[1], row[0]))
    return Lookup([grams[n] for n, _found in by_rarity[:3]], state, by_rarity[0][1])
