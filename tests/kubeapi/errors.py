"""Kubernetes API errors, rendered as the `Status` objects the real server sends."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

# The `reason` the real API server puts next to each HTTP code it uses
# (k8s.io/apimachinery/pkg/apis/meta/v1 StatusReason).
REASONS: dict[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    409: "Conflict",
    410: "Expired",
    413: "RequestEntityTooLarge",
    415: "UnsupportedMediaType",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


class ApiError(Exception):
    """An API failure that becomes a `Status` response.

    Attributes:
        code: The HTTP status code.
        reason: The machine-readable `StatusReason` (`NotFound`, `Conflict`, ...).
        message: The human-readable message, worded as the real server words it.
        details: The `details` object (`name`, `group`, `kind`, `causes`,
            `retryAfterSeconds`), or None.
        headers: Extra response headers (e.g. `Retry-After`).
    """

    def __init__(
        self,
        code: int,
        message: str,
        reason: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason or REASONS.get(code, HTTPStatus(code).phrase.replace(" ", ""))
        self.message = message
        self.details = details
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        """Return the `Status` object for this error."""
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(name: str | None, group: str, kind: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {}
    if name:
        details["name"] = name
    if group:
        details["group"] = group
    details["kind"] = kind
    details.update(extra)
    return details


def qualified(plural: str, group: str) -> str:
    """Return `plural.group` (or `plural` for the core group), as messages name resources."""
    return f"{plural}.{group}" if group else plural


def not_found(plural: str, group: str, name: str) -> ApiError:
    """Return the 404 for a missing object."""
    return ApiError(
        404, f'{qualified(plural, group)} "{name}" not found', details=_details(name, group, plural)
    )


def already_exists(plural: str, group: str, name: str) -> ApiError:
    """Return the 409 AlreadyExists for a create that collides."""
    return ApiError(
        409,
        f'{qualified(plural, group)} "{name}" already exists',
        reason="AlreadyExists",
        details=_details(name, group, plural),
    )


def conflict(plural: str, group: str, name: str, why: str | None = None) -> ApiError:
    """Return the 409 Conflict of a failed optimistic-concurrency precondition."""
    why = why or (
        "the object has been modified; please apply your changes to the latest version "
        "and try again"
    )
    return ApiError(
        409,
        f'Operation cannot be fulfilled on {qualified(plural, group)} "{name}": {why}',
        reason="Conflict",
        details=_details(name, group, plural),
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> ApiError:
    """Return the 422 Invalid of a failed validation.

    Args:
        kind: The object's kind (`ConfigMap`).
        group: Its API group.
        name: Its name.
        causes: `(reason, field, message)` tuples, e.g.
            `("FieldValueInvalid", "metadata.name", "Invalid value: ...")`.
    """
    # As Go's aggregate error prints a field.ErrorList: one alone, several
    # (without repeats) in brackets.
    errors = list(dict.fromkeys(f"{field}: {message}" for _reason, field, message in causes))
    text = errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"
    qualified_kind = f"{kind}.{group}" if group else kind
    return ApiError(
        422,
        f'{qualified_kind} "{name}" is invalid: {text}',
        details=_details(
            name,
            group,
            kind,
            causes=[
                {"reason": reason, "message": message, "field": field}
                for reason, field, message in causes
            ],
        ),
    )


def bad_request(message: str) -> ApiError:
    """Return a 400 BadRequest."""
    return ApiError(400, message)


def gone(message: str) -> ApiError:
    """Return the 410 Expired of a resourceVersion older than the kept history."""
    return ApiError(410, message, reason="Expired")


def forbidden(
    user: str, verb: str, plural: str, group: str, *, namespace: str | None, name: str | None
) -> ApiError:
    """Return the 403 of an RBAC denial, worded as the real authorizer words it."""
    target = f'{qualified(plural, group)} "{name}"' if name else qualified(plural, group)
    scope = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    return ApiError(
        403,
        f'{target} is forbidden: User "{user}" cannot {verb} resource "{plural}" '
        f'in API group "{group}"{scope}',
        details=_details(name, group, plural),
    )


def unauthorized() -> ApiError:
    """Return the 401 for a request without a known bearer token."""
    return ApiError(401, "Unauthorized")


def method_not_allowed(method: str) -> ApiError:
    """Return the 405 for a verb a resource does not support."""
    return ApiError(
        405, f"the server does not allow this method on the requested resource ({method})"
    )


def unsupported_media_type(accepted: list[str]) -> ApiError:
    """Return the 415 for a body format the resource does not accept."""
    return ApiError(
        415,
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(accepted)}",
        reason="UnsupportedMediaType",
    )
