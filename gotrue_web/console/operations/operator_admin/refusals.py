"""The audit entry of a console action refused to an operator's role: who, what, which role."""

from __future__ import annotations

from ....models import Operator
from ....runtime import Runtime
from ....services import audit
from .. import operators


def record(rt: Runtime, operator: Operator, *, endpoint: str, method: str, path: str,
           needed: str, ip: str) -> None:
    """Writes operator_action_refused (the caller commits: nothing else happened)."""
    audit.record("operator_action_refused", operators.actor_of(operator), now=rt.now(), ip=ip,
                 traits={"refused_action": endpoint, "method": method, "path": path[:255],
                         "operator_role": operator.role, "required_role": needed})
