"""What the query routes take from the request and the app: the window and filters, the services."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from prism.auth import get_identity
from prism.errors import ValidationFailedError
from prism.identity.service import IdentityService
from prism.read import Filters

from query.service import DashboardService, QueryService

Status = Literal["ok", "error", "cancelled"]
GroupKey = Literal["project", "model", "provider", "status"]
Text = Annotated[str, Query(min_length=1, max_length=500)]


def get_service(request: Request) -> QueryService:
    service: QueryService = request.app.state.query
    return service


def get_dashboards(request: Request) -> DashboardService:
    service: DashboardService = request.app.state.dashboards
    return service


ServiceDep = Annotated[QueryService, Depends(get_service)]
DashboardsDep = Annotated[DashboardService, Depends(get_dashboards)]
IdentityDep = Annotated[IdentityService, Depends(get_identity)]


class Common:
    """The window and filters every read takes."""

    def __init__(
        self,
        from_: Annotated[datetime | None, Query(alias="from", description="Start, ISO 8601 with a time zone")] = None,
        to: Annotated[datetime | None, Query(description="End (exclusive); default now")] = None,
        model: Annotated[list[str] | None, Query(max_length=50)] = None,
        provider: Annotated[list[str] | None, Query(max_length=50)] = None,
        status: Annotated[list[Status] | None, Query(max_length=3)] = None,
        project: Annotated[list[str] | None, Query(max_length=50, description="Project slugs (any of)")] = None,
    ) -> None:
        self.start, self.end = from_, to
        for name, values in (("model", model), ("provider", provider), ("project", project)):
            for v in values or ():
                if not v or len(v) > 500:
                    raise ValidationFailedError(f"'{name}' values are 1 to 500 characters", code="invalid_filter")
        self.filters = Filters(
            model=model or (), provider=provider or (), status=status or (), project=project or ()
        )


CommonDep = Annotated[Common, Depends()]
GroupBy = Annotated[list[GroupKey] | None, Query(max_length=4, description="Break down by these keys")]
