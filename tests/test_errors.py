"""One exception hierarchy, with messages that say what to fix."""

from __future__ import annotations

import inspect

import oms_sdk
from oms_sdk import errors


def test_every_public_error_is_an_oms_error_and_exported() -> None:
    classes = [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, Exception) and obj.__module__ == errors.__name__
    ]
    assert len(classes) >= 12
    for cls in classes:
        assert issubclass(cls, errors.OMSError)
        assert cls.__name__ in oms_sdk.__all__
        assert cls.__name__ in (errors.__doc__ or ""), f"{cls.__name__} missing from the diagram"


def test_transition_not_allowed_message() -> None:
    error = errors.TransitionNotAllowed(
        order="EU-001042",
        trigger="capture",
        status="cancelled",
        payment_status="voided",
        fulfillment_status="unfulfilled",
        reasons=["payment_status is voided"],
    )
    assert str(error) == (
        "cannot capture order EU-001042 (cancelled/voided/unfulfilled): payment_status is voided"
    )
    assert error.order == "EU-001042"
    assert isinstance(error, errors.OrderError)


def test_policy_error_lists_every_problem() -> None:
    problems = [
        errors.PolicyProblem("a.yaml", "markets[0].currency", 4, "unknown currency 'XXX'"),
        errors.PolicyProblem("b.yaml", "", None, "no such file or folder"),
    ]
    error = errors.PolicyError(problems)
    assert str(error).splitlines() == [
        "2 problems in policy files",
        "  a.yaml:4: markets[0].currency: unknown currency 'XXX'",
        "  b.yaml: no such file or folder",
    ]
    assert error.problems == tuple(problems)
