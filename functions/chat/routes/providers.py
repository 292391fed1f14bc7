from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from prism.auth import AUTH_RESPONSES, get_identity
from prism.identity.model import Principal, Role

from chat.deps import ChatAdmin, ChatMember, ProvidersDep
from chat.providers import ProviderView
from chat.schemas import ProviderOut, ProvidersOut, PutProvider, error_responses

# Members see which providers are configured (to chat); only admins change them, and each change is
# audited. No key is ever sent back: admins see its last four characters, members not even those.
router = APIRouter(prefix="/api/settings", tags=["settings"], responses=AUTH_RESPONSES)

ProviderPath = Annotated[
    str, Path(min_length=1, max_length=64, description="openai, anthropic, gemini or openai_compatible")
]


def _out(v: ProviderView, me: Principal) -> ProviderOut:
    return ProviderOut(
        id=v.id,
        label=v.label,
        configured=v.configured,
        key_required=v.key_required,
        base_url_required=v.base_url_required,
        has_key=v.has_key,
        key_last4=v.key_last4 if me.role.allows(Role.admin) else None,
        base_url=v.base_url,
        models=v.models,
        updated_at=v.updated_at,
        state=v.state.state,
        reason=v.state.reason,
        checked_at=v.state.checked_at,
    )


@router.get("/providers", response_model=ProvidersOut, responses=error_responses(503))
async def list_providers(me: ChatMember, providers: ProvidersDep) -> ProvidersOut:
    """Every provider and whether it is configured. Keys show only their last four characters, to
    admins."""
    return ProvidersOut(
        providers=[_out(v, me) for v in await providers.views()],
        demo_model=providers.demo_enabled,
        creds_key_configured=providers.creds_key_configured,
    )


@router.put(
    "/providers/{provider}",
    response_model=ProviderOut,
    responses=error_responses(
        400, 404, 422, 503, s404="Unknown provider", s503="PRISM_CREDS_KEY is not set, or the database is unavailable"
    ),
)
async def put_provider(
    me: ChatAdmin, request: Request, provider: ProviderPath, body: PutProvider, providers: ProvidersDep
) -> ProviderOut:
    """Configure a provider. The key is encrypted before it is stored and is never sent back."""
    view = await providers.put(
        provider,
        api_key=body.api_key.get_secret_value() if body.api_key is not None else None,
        base_url=str(body.base_url) if body.base_url is not None else None,
        models=body.models,
    )
    await get_identity(request).audit(me, "provider.set", target=view.id)
    return _out(view, me)


@router.delete(
    "/providers/{provider}",
    status_code=204,
    responses=error_responses(404, 422, 503, s404="Unknown or unconfigured provider"),
)
async def delete_provider(me: ChatAdmin, request: Request, provider: ProviderPath, providers: ProvidersDep) -> Response:
    await providers.delete(provider)
    await get_identity(request).audit(me, "provider.delete", target=provider)
    return Response(status_code=204)
