from __future__ import annotations

from fastapi import APIRouter
from prism.auth import AUTH_RESPONSES

from chat.deps import ChatMember, ProvidersDep
from chat.schemas import ModelGroupOut, ModelOut, ModelsOut, error_responses

router = APIRouter(prefix="/api", tags=["models"], responses=AUTH_RESPONSES)


@router.get("/models", response_model=ModelsOut, responses=error_responses(503))
async def list_models(me: ChatMember, providers: ProvidersDep) -> ModelsOut:
    """The models usable now, grouped by provider (the offline demo model last, when enabled)."""
    groups = await providers.model_groups()
    out = [
        ModelGroupOut(
            provider=g.provider,
            label=g.label,
            models=[ModelOut(**m) for m in g.models],
            error=g.error,
            state=g.state.state,
            reason=g.state.reason,
        )
        for g in groups
    ]
    default = next((m.id for g in out for m in g.models), None)
    return ModelsOut(providers=out, default_model=default)
