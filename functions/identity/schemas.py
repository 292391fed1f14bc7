"""Request and response models of the identity API (the web UI's login page and admin screens call
these shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

NO_NUL = r"^[^\x00]*$"
Email = Annotated[str, Field(min_length=3, max_length=320, pattern=NO_NUL, examples=["ada@example.com"])]
Password = Annotated[str, Field(min_length=1, max_length=1024, pattern=NO_NUL)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=NO_NUL)]
Slug = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", examples=["prod"])]
RoleName = Literal["admin", "member", "viewer"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- sign-in


class LoginIn(Strict):
    email: Email
    password: Password


class UserOut(BaseModel):
    id: UUID
    email: str
    name: str | None
    role: RoleName
    must_change_password: bool = Field(description="Signed in with a temporary password: change it first")
    disabled: bool
    sso: bool = Field(description="Signs in with single sign-on (OIDC)")
    pending_invite: bool = Field(description="Invited by link, not signed in yet")
    created_at: datetime
    last_login_at: datetime | None


class SessionOut(BaseModel):
    """The signed-in user and the session's CSRF token: send it as ``X-CSRF-Token`` with every
    POST/PUT/PATCH/DELETE. The session id itself is only in the HttpOnly ``prism_session`` cookie."""

    user: UserOut
    csrf_token: str | None = Field(description="None when called with a read token (no cookie, no CSRF)")


class PasswordIn(Strict):
    current_password: Password
    new_password: Annotated[str, Field(min_length=10, max_length=1024, pattern=NO_NUL)]


class InviteAcceptIn(Strict):
    token: Annotated[str, Field(min_length=1, max_length=200)]
    password: Annotated[str, Field(min_length=10, max_length=1024, pattern=NO_NUL)]


class Providers(BaseModel):
    """The login methods that are on."""

    password: bool
    oidc: bool


# --- users


class InviteIn(Strict):
    email: Email
    role: RoleName = "member"
    name: Name | None = None
    method: Literal["link", "password"] = Field(
        default="link",
        description="link: a one-time invite link (/login/?invite=<token>); password: a temporary password "
        "the user must change at first sign-in",
    )


class InviteOut(BaseModel):
    """Shown once: neither the temporary password nor the invite token can be read again."""

    user: UserOut
    temporary_password: str | None
    invite_token: str | None
    invite_url: str | None = Field(description="Relative to the web UI's origin: /login/?invite=<token>")
    expires_at: datetime | None = Field(description="When the invite link stops working")


class UserPatch(Strict):
    role: RoleName | None = None
    disabled: bool | None = None
    name: Name | None = None


# --- keys


class KeyIn(Strict):
    kind: Literal["ingest", "read"]
    name: Name
    project: Slug | None = Field(default=None, description="An ingestion key's project (required for ingest)")
    user_id: UUID | None = Field(default=None, description="A read token's user (default: you)")
    expires_at: datetime | None = None


class KeyOut(BaseModel):
    id: UUID
    kind: Literal["ingest", "read"]
    prefix: str = Field(description="The visible head of the key (prism_ik_<id> / prism_rt_<id>)")
    name: str
    project: str | None
    user_id: UUID | None
    user_email: str | None
    created_by: UUID | None
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    status: Literal["active", "expired", "revoked"]


class KeyCreated(KeyOut):
    token: str = Field(description="The whole key, shown this once: only its digest is kept")


# --- projects and settings


class ProjectIn(Strict):
    slug: Slug
    name: Name


class ProjectPatch(Strict):
    name: Name


class ProjectOut(BaseModel):
    id: UUID
    slug: str
    name: str
    created_at: datetime


class ChatProject(Strict):
    project: Slug = Field(description="The project of the chat's own events")


# --- audit


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    actor_id: UUID | None
    action: str = Field(examples=["login", "login.failed", "user.role", "key.create", "project.delete"])
    target: str | None
    detail: dict[str, Any]
    address: str | None


class AuditPageOut(BaseModel):
    items: list[AuditOut]
    next_cursor: str | None = Field(description="Pass as cursor for older entries; None at the end")


class Health(BaseModel):
    status: Literal["ok"]
