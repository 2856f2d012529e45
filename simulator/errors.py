"""Error responses in the exact shapes of the contract."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


class ApiProblem(Exception):
    """Raised by routes; rendered as ``body`` with ``status`` (and optional headers)."""

    def __init__(self, status: int, body: dict | str, headers: dict | None = None) -> None:
        self.status = status
        self.body = {"detail": body} if isinstance(body, str) else body
        self.headers = headers or {}


def problem_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiProblem)
    return JSONResponse(exc.body, status_code=exc.status, headers=exc.headers)


def validation_problem(field: str, message: str) -> ApiProblem:
    """A 422 in FastAPI's own validation shape, for checks made inside a route."""
    detail = [{"loc": ["body", field], "msg": message, "type": "value_error"}]
    return ApiProblem(422, {"detail": detail})
