"""``/v1/subjects`` (admin): forgetting a data subject (crypto-shredding, docs/personal-data.md)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, post
from litestar.params import Parameter

from sensorhub.application.subjects import ForgetSubject, forget_subject
from sensorhub.domain.errors import InvalidCommand
from sensorhub.domain.personal_data import SUBJECT_ID, check_subject_id
from sensorhub.http import dependencies as deps
from sensorhub.http.commands import command_context, json_response
from sensorhub.http.openapi import documented
from sensorhub.http.problems import invalid
from sensorhub.http.views import SubjectForgottenView
from sensorhub.runtime import Services

AnyRequest = Request[Any, Any, Any]


class SubjectsController(Controller):
    path = "/v1/subjects"
    tags = ["subjects"]
    dependencies = {"services": deps.SERVICES}

    @post(
        "/{subject_id:str}/forget",
        opt={"scope": "admin"},
        operation_id="forgetSubject",
        status_code=200,
        responses=documented(SubjectForgottenView),
    )
    async def forget(
        self,
        request: AnyRequest,
        services: deps.Injected[Services],
        subject_id: Annotated[str, Parameter(pattern=SUBJECT_ID.pattern, description="The subject's pseudonymous id")],
    ) -> Response[bytes]:
        """Forget a data subject: its key is destroyed, so its personal data (owner name, email,
        address of its devices) reads as erased everywhere from now on — events, time travel,
        snapshots, read models (once the projector passes ``X-Position``), rebuilds. Recorded as a
        ``SubjectForgotten`` event. Idempotent: forgetting again (or a subject never seen) answers
        200 with ``key_destroyed: false``. A malformed subject id → 422."""
        try:
            check_subject_id(subject_id)
        except InvalidCommand as exc:
            raise invalid("subject_id", str(exc)) from None
        forgotten = await forget_subject(
            ForgetSubject(subject_id), services.subject_keys, services.codec, command_context(request)
        )
        view = SubjectForgottenView(forgotten.subject_id, forgotten.key_destroyed, forgotten.position)
        return json_response(view, headers={"X-Position": str(forgotten.position)})
