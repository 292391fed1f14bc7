from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from chat.deps import ProvidersDep
from chat.providers import ProviderView
from chat.schemas import ProviderOut, ProvidersOut, PutProvider, error_responses

router = APIRouter(prefix="/api/settings", tags=["settings"])

ProviderPath = Annotated[
    str, Path(min_length=1, max_length=64, description="openai, anthropic, gemini or openai_compatible")
]


def _out(v: ProviderView) -> ProviderOut:
    return ProviderOut(
        id=v.id,
        label=v.label,
        configured=v.configured,
        key_required=v.key_required,
        base_url_required=v.base_url_required,
        has_key=v.has_key,
        key_last4=v.key_last4,
        base_url=v.base_url,
        models=v.models,
        updated_at=v.updated_at,
        state=v.state.state,
        reason=v.state.reason,
        checked_at=v.state.checked_at,
    )


@router.get("/providers", response_model=ProvidersOut, responses=error_responses(503))
async def list_providers(providers: ProvidersDep) -> ProvidersOut:
    """Every provider and whether it is configured. Keys show only their last four characters."""
    return ProvidersOut(
        providers=[_out(v) for v in await providers.views()],
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
async def put_provider(provider: ProviderPath, body: PutProvider, providers: ProvidersDep) -> ProviderOut:
    """Configure a provider. The key is encrypted before it is stored and is never sent back."""
    view = await providers.put(
        provider,
        api_key=body.api_key.get_secret_value() if body.api_key is not None else None,
        base_url=str(body.base_url) if body.base_url is not None else None,
        models=body.models,
    )
    return _out(view)


@router.delete(
    "/providers/{provider}",
    status_code=204,
    responses=error_responses(404, 422, 503, s404="Unknown or unconfigured provider"),
)
async def delete_provider(provider: ProviderPath, providers: ProvidersDep) -> Response:
    await providers.delete(provider)
    return Response(status_code=204)
