"""Reporting every problem at once from validators that check more than one field.

Pydantic stops a model at its first failing model-level validator; these
helpers run the normal validation *and* our own checks on the raw input, then
raise one ValidationError holding both, so a user fixes a file in one pass.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import ValidationError, ValidatorFunctionWrapHandler
from pydantic_core import InitErrorDetails, PydanticCustomError

T = TypeVar("T")


def problem(kind: str, message: str, loc: tuple[int | str, ...], value: Any) -> InitErrorDetails:
    """One error line for :func:`validate_collecting` (``loc`` relative to the validated value)."""
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


def validate_collecting(
    handler: ValidatorFunctionWrapHandler, value: Any, extra: list[InitErrorDetails], title: str
) -> Any:
    """Run ``handler(value)``; raise its errors together with ``extra``, or return its result."""
    try:
        result = handler(value)
    except ValidationError as exc:
        merged = sorted([*_redetail(exc), *extra], key=_item_index)
        raise ValidationError.from_exception_data(title, merged) from None
    if extra:
        raise ValidationError.from_exception_data(title, extra)
    return result


def _redetail(exc: ValidationError) -> list[InitErrorDetails]:
    # Re-raising needs InitErrorDetails; type names and ctx are kept for translation.
    return [
        InitErrorDetails(
            type=PydanticCustomError(error["type"], error["msg"], error.get("ctx")),
            loc=error["loc"],
            input=error["input"],
        )
        for error in exc.errors()
    ]


def _item_index(error: InitErrorDetails) -> int:
    # Keep a list's problems grouped by item, as a user reads the file.
    loc = error.get("loc", ())
    return loc[0] if loc and isinstance(loc[0], int) else -1
