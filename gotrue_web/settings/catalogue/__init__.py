"""Every GoTrue variable, old and current, and every variable this server reads: one entry each,
saying whether it is honoured here, honoured with a difference, or not supported (and why, and
what to use instead).

The entries are data (the modules beside this one, one per area). Three things are built from
them, so none can drift from the others:

- the start-up review (``review.py``): a variable that is set but not honoured is a warning
  naming it, an unknown ``GOTRUE_*`` name gets the closest known one;
- the README's configuration tables (``readme.py``; ``python -m gotrue_web.settings.catalogue``);
- tests/settings/test_catalogue_agreement.py, which reads the settings the way start-up does and
  checks that the names looked up (``EnvReader.asked``) are exactly the honoured ones.

An entry may stand for a family of variables: ``<P>`` in a name is every OAuth provider,
``<HOOK>`` every auth hook, and so on (PLACEHOLDERS); ``names()`` expands them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..env import PREFIX
from ..external import OAUTH_PROVIDERS
from ..hooks import HOOK_NAMES
from ..mailer import MAILER_TEMPLATE_KINDS, NOTIFICATION_KINDS, URL_PATH_KINDS, variable_suffix

HONOURED = "honoured"
DIFFERENT = "honoured-with-difference"
NOT_SUPPORTED = "not-supported"
STATUSES = (HONOURED, DIFFERENT, NOT_SUPPORTED)

# What each placeholder in a family's name stands for, from the settings code itself.
PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "<P>": tuple(name.upper() for name in OAUTH_PROVIDERS),
    "<HOOK>": tuple(name.upper() for name in HOOK_NAMES),
    "<TEMPLATE>": tuple(variable_suffix(kind) for kind in MAILER_TEMPLATE_KINDS),
    "<LINK>": tuple(kind.upper() for kind in URL_PATH_KINDS),
    "<NOTIFICATION>": tuple(kind.upper() for kind in NOTIFICATION_KINDS),
}


@dataclass(frozen=True)
class Variable:
    """One GoTrue variable (or family), as this server treats it."""

    name: str
    default: str
    meaning: str
    status: str = HONOURED
    # The difference (honoured-with-difference), or why not and what to use instead.
    note: str = ""
    # Other names read for the same value: GoTrue's unprefixed forms, old spellings.
    aliases: tuple[str, ...] = ()
    # Names the seed README or an older GoTrue used for it that are NOT read: each one set is
    # a start-up warning pointing at ``name``.
    legacy: tuple[str, ...] = ()
    # Where it comes from: "seed" (the seed README), "gotrue" (current GoTrue), "ours".
    origin: str = "gotrue"
    # Who reads it: "settings" (gotrue_web/settings, checked by the agreement test) or
    # "gunicorn.conf.py".
    reader: str = "settings"
    # False for words of the seed README that are not settings (HEAD, JSON, TOKEN): other
    # programs use those names, so setting one is never a warning.
    checked: bool = True
    group: str = ""

    @property
    def honoured(self) -> bool:
        return self.status != NOT_SUPPORTED

    def read_names(self) -> tuple[str, ...]:
        """The entry's own names (name and aliases), families expanded."""
        return tuple(name for pattern in (self.name, *self.aliases) for name in expand(pattern))

    def legacy_names(self) -> tuple[str, ...]:
        return tuple(name for pattern in self.legacy for name in expand(pattern))

    def instead(self, legacy_name: str) -> str:
        """The honoured name a legacy name of this entry stands for (same family member)."""
        for pattern in self.legacy:
            for index, name in enumerate(expand(pattern)):
                if name == legacy_name:
                    return expand(self.name)[index] if _family(pattern) else expand(self.name)[0]
        return self.name


def _family(pattern: str) -> str:
    return next((key for key in PLACEHOLDERS if key in pattern), "")


def expand(pattern: str) -> tuple[str, ...]:
    """``pattern`` with its placeholder replaced by each value (one placeholder at most)."""
    key = _family(pattern)
    if not key:
        return (pattern,)
    return tuple(pattern.replace(key, value) for value in PLACEHOLDERS[key])


def _entries() -> tuple[Variable, ...]:
    from . import access, delivery, server, unsupported

    return (*server.ENTRIES, *access.ENTRIES, *delivery.ENTRIES, *unsupported.ENTRIES)


@lru_cache(maxsize=1)
def catalogue() -> tuple[Variable, ...]:
    return _entries()


@dataclass(frozen=True)
class Known:
    """What a variable name is: its entry, and whether this name is read."""

    entry: Variable
    read: bool


@lru_cache(maxsize=1)
def index() -> dict[str, Known]:
    """Every known name (families expanded) -> Known. A name read by one entry wins over the
    same name listed as another's legacy."""
    known: dict[str, Known] = {}
    for entry in catalogue():
        for name in entry.legacy_names():
            known.setdefault(name, Known(entry, read=False))
    for entry in catalogue():
        for name in entry.read_names():
            if name not in known or not known[name].read:
                known[name] = Known(entry, read=entry.honoured)
    return known


def honoured_names(reader: str = "settings") -> frozenset[str]:
    """Every name an honoured entry of ``reader`` reads."""
    return frozenset(name for entry in catalogue() if entry.honoured and entry.reader == reader
                     for name in entry.read_names())


def prefixed_names() -> tuple[str, ...]:
    """Every known GOTRUE_ name, for "did you mean ...?"."""
    return tuple(sorted(name for name in index() if name.startswith(PREFIX)))
