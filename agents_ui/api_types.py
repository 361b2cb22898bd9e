"""Field and parameter types shared by the API's routes, so that the OpenAPI document states the
limits the code enforces (a client written from the document sends what the server accepts).

The service layer still checks everything (the pages post forms that never pass through these
models); these types are the same rules, stated where the document can show them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, NoReturn

from fastapi import Path, Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from agents_ui.accounts.passwords import MIN_LENGTH
from telephony.channel_vars import UNIQUEID_PATTERN


class Problem(BaseModel):
    """Every refusal's body: FastAPI's ``{"detail": "..."}``."""

    detail: str


# The answers of every route behind a login, for its OpenAPI responses.
LOGIN_PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Not logged in"},
    403: {"model": Problem, "description": "Your role does not allow this"},
}

# Row ids are INTEGER primary keys: 32-bit on every database we run, so larger numbers can only
# be typos or probes. Refused by validation (422), never passed to the database.
ROW_ID_MAX = 2**31 - 1

RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX)]
RowRef = Annotated[int, Field(ge=1, le=ROW_ID_MAX)]  # a row id inside a request body
Offset = Annotated[int, Query(ge=0, le=ROW_ID_MAX)]

# A call's Asterisk uniqueid (telephony.channel_vars.UNIQUEID_PATTERN), whole.
CALL_ID_PATTERN = f"^{UNIQUEID_PATTERN}$"
CallId = Annotated[str, Field(pattern=CALL_ID_PATTERN)]
Username = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$", description="Letters, digits, . _ -")
]
Extension = Annotated[str, Field(pattern=r"^[0-9]{2,8}$", description="2 to 8 digits, unique")]
NewPassword = Annotated[
    str,
    Field(
        min_length=MIN_LENGTH,
        max_length=1024,
        description=f"At least {MIN_LENGTH} characters, not the username",
    ),
]
TeamName = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"\S", description="Unique whatever the case")
]
# A settings code: pause reasons and call outcomes (settings.LabelSettings.code).
Code = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
QueueName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
Penalty = Annotated[int, Field(ge=0, le=100, description="0 is rung first")]


def refuse_field(location: tuple[str, ...], message: str, value: Any) -> NoReturn:
    """A 422 in FastAPI's own shape, for a value only the settings can judge (e.g. a pause reason
    the site does not have): clients handle one validation error format."""
    error: Mapping[str, Any] = {"loc": location, "msg": message, "type": "value_error", "input": value}
    raise RequestValidationError([error])
