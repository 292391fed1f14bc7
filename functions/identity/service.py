"""The identity API's side of the core: domain objects to response models, and the session cookie."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import Request, Response
from prism.auth import SESSION_COOKIE
from prism.identity.model import ApiKey, AuditEntry, Project, User
from prism.identity.service import IdentityService, Invitation, SignIn

from identity.schemas import AuditOut, InviteOut, KeyCreated, KeyOut, ProjectOut, SessionOut, UserOut


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        role=user.role.value,
        must_change_password=user.must_change_password,
        disabled=user.disabled,
        sso=user.oidc_issuer is not None,
        pending_invite=user.password_hash is None and user.oidc_issuer is None and user.last_login_at is None,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


def key_out(key: ApiKey, now: datetime) -> KeyOut:
    status: Literal["active", "expired", "revoked"] = (
        "revoked" if key.revoked_at else "expired" if not key.usable(now) else "active"
    )
    return KeyOut(
        id=key.id,
        kind=key.kind,
        prefix=key.prefix,
        name=key.name,
        project=key.project_slug,
        user_id=key.user_id,
        user_email=key.user_email,
        created_by=key.created_by,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        expires_at=key.expires_at,
        revoked_at=key.revoked_at,
        status=status,
    )


def key_created(key: ApiKey, token: str, now: datetime) -> KeyCreated:
    return KeyCreated(**key_out(key, now).model_dump(), token=token)


def project_out(project: Project) -> ProjectOut:
    return ProjectOut(id=project.id, slug=project.slug, name=project.name, created_at=project.created_at)


def audit_out(entry: AuditEntry) -> AuditOut:
    return AuditOut(
        id=entry.id or 0,
        at=entry.at,
        actor=entry.actor,
        actor_id=entry.actor_id,
        action=entry.action,
        target=entry.target,
        detail=entry.detail,
        address=entry.address,
    )


def invite_out(invitation: Invitation, identity: IdentityService) -> InviteOut:
    token = invitation.invite_token
    return InviteOut(
        user=user_out(invitation.user),
        temporary_password=invitation.temporary_password,
        invite_token=token,
        invite_url=f"/login/?invite={token}" if token else None,
        expires_at=invitation.user.created_at + identity.policy.invite_ttl if token else None,
    )


def is_https(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return (forwarded or request.url.scheme) == "https"


def start_session(request: Request, response: Response, signin: SignIn, identity: IdentityService) -> SessionOut:
    """Set the ``prism_session`` cookie (HttpOnly, SameSite=Lax, Path=/, Secure over https) and
    answer with the user and the CSRF token."""
    response.set_cookie(
        SESSION_COOKIE,
        signin.session_token,
        max_age=int(identity.policy.session_ttl.total_seconds()),
        path="/",
        secure=is_https(request),
        httponly=True,
        samesite="lax",
    )
    response.headers["Cache-Control"] = "no-store"
    return SessionOut(user=user_out(signin.user), csrf_token=signin.csrf_token)


def end_session(request: Request, response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=is_https(request), httponly=True, samesite="lax")
