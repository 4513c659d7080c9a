"""Contract fuzzing: schemathesis generates requests from our own OpenAPI document and sends them
to the app in-process, authenticated with an admin key, on SQLite and PostgreSQL.

No generated request may cause a 5xx, and every answer must conform to the documented status
codes, content types and schemas; invalid requests (negative mode) must be refused with a 4xx.
Half the cases are pointed at a real program and member, so that the fuzzer reaches past the
404s into the use cases.
"""

from __future__ import annotations

import os
import random

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.builders import a_member, a_program, earn
from tests.contract.conftest import GENERATED

# In CI the fuzzer is derandomized: the same examples every run, so a run's colour depends on
# the change, not on luck; locally each run explores new examples.
DERANDOMIZE = bool(os.environ.get("CI"))

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, negative_data_rejection]
EXAMPLES = {GenerationMode.POSITIVE: 400, GenerationMode.NEGATIVE: 250}


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda mode: mode.value)
def test_no_generated_request_breaks_the_contract(app, ctx, admin_key, mode):
    a_program(ctx)
    member = a_member(ctx, "card:1234")
    earn(ctx, member, 500)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {admin_key}"}

    @given(case=schema.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None,
              derandomize=DERANDOMIZE, suppress_health_check=list(HealthCheck))
    def conforms(case: schemathesis.Case) -> None:
        chance = random.Random(repr(case.path_parameters) + repr(case.body))
        if case.path_parameters and chance.random() < 0.5:
            if "program" in case.path_parameters:
                case.path_parameters["program"] = "shop"
            if "member_id" in case.path_parameters:
                case.path_parameters["member_id"] = member.id
        GENERATED["requests"] += 1
        case.call_and_validate(headers=headers, checks=CHECKS)

    conforms()
