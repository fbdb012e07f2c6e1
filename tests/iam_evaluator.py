"""A small IAM policy evaluator for one account: identity policies, an optional resource policy,
Allow/Deny, wildcards, and the condition operators the project's policies use.

Written here because none of the kept libraries evaluates a request with conditions correctly:
- moto (moto.iam.access_control) evaluates only StringEquals, ignores ArnEquals/ArnLike (so a
  request for another cluster would pass) and turns a non-matching condition into an explicit
  Deny (so a second, matching Allow would be lost);
- principalmapper 1.1.5 (local_policy_simulation), the last release (2022), cannot be imported
  on Python 3.10+ (`from collections import Mapping`: nccgroup/PMapper issues #130, #131, #140;
  fixed in its repository, never released), matches Resource ARNs case-insensitively, and is
  AGPL-3.0;
- parliament and policyuniverse lint and expand policies but evaluate no request.
Everything it does not know (another operator, a policy variable) raises instead of guessing.

Rules, from the IAM User Guide:
- evaluation: an explicit Deny anywhere wins; otherwise an Allow in an identity policy or in
  the resource policy (for this principal, same account) allows; otherwise implicit deny.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- Action matches case-insensitively with `*` and `?`:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
- Resource and Arn* conditions match case-sensitively, each of the six colon-separated parts on
  its own, with `*` and `?` (the resource part may hold colons):
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
- conditions: every operator and every key must match (AND), any of a key's values (OR); key
  names match in any case; a key absent from the request matches only `...IfExists`, the
  negated operators and Null:
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Policy = Mapping[str, Any]
Context = Mapping[str, str]


def _pattern(glob: str, flags: int = 0) -> re.Pattern[str]:
    """`*` any run of characters, `?` one character, everything else literal."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile("".join(parts), flags | re.DOTALL)


def glob_match(glob: str, value: str, *, ignore_case: bool = False) -> bool:
    if "${" in glob:
        raise NotImplementedError(f"policy variables are not evaluated: {glob}")
    return _pattern(glob, re.IGNORECASE if ignore_case else 0).fullmatch(value) is not None


def arn_match(pattern: str, arn: str) -> bool:
    """ARN matching: `*` alone matches anything, else part by part (six parts)."""
    if pattern == "*":
        return True
    wanted, given = pattern.split(":", 5), arn.split(":", 5)
    if len(wanted) != 6 or len(given) != 6:
        return False
    return all(glob_match(w, g) for w, g in zip(wanted, given, strict=True))


def _listed(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


_POSITIVE = {
    "StringEquals": lambda want, got: want == got,
    "StringEqualsIgnoreCase": lambda want, got: want.lower() == got.lower(),
    "StringLike": glob_match,
    "ArnEquals": arn_match,
    "ArnLike": arn_match,
    "Bool": lambda want, got: want.lower() == got.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


def _condition_holds(operator: str, key: str, wanted: list[str], context: Context) -> bool:
    if any("${" in str(w) for w in wanted):  # every operator, not only the wildcard ones
        raise NotImplementedError(f"policy variables are not evaluated: {key}: {wanted}")
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if base == "Null":
        return (key not in context) == (wanted[0].lower() == "true")
    if base in _NEGATED:
        if key not in context:
            return True
        test = _POSITIVE[_NEGATED[base]]
        return not any(test(w, context[key]) for w in wanted)
    if base not in _POSITIVE:
        raise NotImplementedError(f"condition operator {operator} is not evaluated")
    if key not in context:
        return if_exists
    test = _POSITIVE[base]
    return any(test(w, context[key]) for w in wanted)


def conditions_hold(condition: Mapping[str, Mapping[str, Any]], context: Context) -> bool:
    # "Condition key names are not case-sensitive" (their values are, for String operators):
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html
    by_name = {key.lower(): value for key, value in context.items()}
    return all(
        _condition_holds(operator, key.lower(), _listed(values), by_name)
        for operator, keys in condition.items()
        for key, values in keys.items()
    )


def _principal_matches(statement: Mapping[str, Any], principal: str) -> bool:
    """A resource policy's Principal: "*", {"AWS": ARNs or "*"} or {"Service": names}."""
    if "NotPrincipal" in statement:
        raise NotImplementedError("NotPrincipal is not evaluated")
    named = statement["Principal"]
    if named == "*":
        return True
    values = [v for kind in ("AWS", "Service") for v in _listed(named.get(kind, []))]
    unknown = set(named) - {"AWS", "Service"}
    if unknown:
        raise NotImplementedError(f"principal types {unknown} are not evaluated")
    return "*" in values or principal in values


def statement_applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Context
) -> bool:
    """Does this statement cover the request (its Effect aside)?"""
    if "Action" in statement:
        acts = any(glob_match(a, action, ignore_case=True) for a in _listed(statement["Action"]))
    else:
        acts = not any(
            glob_match(a, action, ignore_case=True) for a in _listed(statement["NotAction"])
        )
    if "Resource" in statement:
        on = any(arn_match(r, resource) for r in _listed(statement["Resource"]))
    elif "NotResource" in statement:
        on = not any(arn_match(r, resource) for r in _listed(statement["NotResource"]))
    else:
        raise ValueError(f"a statement with neither Resource nor NotResource: {statement}")
    return acts and on and conditions_hold(statement.get("Condition", {}), context)


def _statements(policy: Policy) -> list[Mapping[str, Any]]:
    found = policy["Statement"]
    return [found] if isinstance(found, Mapping) else list(found)


def decide(
    principal: str,
    action: str,
    resource: str,
    context: Context,
    identity_policies: Iterable[Policy] = (),
    resource_policy: Policy | None = None,
) -> str:
    """ "Allow", "ExplicitDeny" or "ImplicitDeny" for one request by `principal` (a role ARN,
    or a service principal such as events.amazonaws.com) in the resource's own account."""
    matching: list[Mapping[str, Any]] = []
    for policy in identity_policies:
        matching += [s for s in _statements(policy)
                     if statement_applies(s, action, resource, context)]  # fmt: skip
    if resource_policy is not None:
        matching += [s for s in _statements(resource_policy)
                     if _principal_matches(s, principal)
                     and statement_applies(s, action, resource, context)]  # fmt: skip
    effects = {s["Effect"] for s in matching}
    if "Deny" in effects:
        return "ExplicitDeny"
    return "Allow" if "Allow" in effects else "ImplicitDeny"
