"""The identity errors, in the one hierarchy of :mod:`prism.errors` (each app maps them to HTTP once)."""

from __future__ import annotations

from prism.errors import ConflictError, ForbiddenError, NotFoundError, UnauthorizedError


class UnauthenticatedError(UnauthorizedError):
    """No credentials, or ones that are wrong, expired, revoked or of a disabled user (401)."""

    code = "unauthenticated"


class InvalidCredentialsError(UnauthorizedError):
    """A login that failed; the same for an unknown e-mail, a wrong password or a disabled account."""

    code = "invalid_credentials"


class ForbiddenRoleError(ForbiddenError):
    """Signed in, but with too low a role (or a read token on a route that changes something)."""

    code = "forbidden"


class CsrfError(ForbiddenError):
    code = "csrf_failed"


class PasswordChangeRequiredError(ForbiddenError):
    """The user signed in with a temporary password: only changing it (and signing out) is allowed."""

    code = "password_change_required"


class UserNotFoundError(NotFoundError):
    code = "user_not_found"


class KeyNotFoundError(NotFoundError):
    code = "key_not_found"


class ProjectNotFoundError(NotFoundError):
    code = "project_not_found"


class EmailTakenError(ConflictError):
    code = "email_taken"


class LastAdminError(ConflictError):
    """The change would leave no active admin."""

    code = "last_admin"
