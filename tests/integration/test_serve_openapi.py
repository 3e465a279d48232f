"""The served OpenAPI document, and schemathesis fuzzing /predict and /feedback from it over real HTTP.

The document is the contract the replica enforces (serve/openapi.py): data it calls valid
must be answered (200, or 422 when the model gives no finite prediction), data it calls
invalid must get a 4xx naming the problem, and nothing may be a 500.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from serve import ServeConfig, deploy

pytestmark = pytest.mark.usefixtures("ray_instance")
TOKEN = "fuzz-token"
AUTH = {"authorization": f"Bearer {TOKEN}"}
FEATURES = {"x1", "x2", "colour", "city", "flag", "when"}  # make_mixed_table's features (row_id is an ID)
EXAMPLES = 150  # per operation and generation mode: 300 requests each to /predict and /feedback
# Invalid data counts as rejected only with one of these (401: schemathesis also drops the
# token, which the document requires; 503: Serve's queue was full).
REJECTED = ["400", "401", "413", "422", "503"]


@pytest.fixture(scope="module")
def served(binary_artifact, serve_url, serve_port, tmp_path_factory):
    """The session's binary model, served with a token (and extra columns refused) and without one."""
    root = tmp_path_factory.mktemp("openapi")
    (root / "token").write_text(TOKEN + "\n")
    common = {"port": serve_port, "cpus_per_replica": 0.25, "max_rows": 8, "max_body_bytes": 20_000}
    secure = deploy(binary_artifact.path, ServeConfig(name="fuzz", route_prefix="/fuzz",
                                                      token_file=str(root / "token"), reject_extra_columns=True,
                                                      **common))  # fmt: skip
    open_ = deploy(binary_artifact.path, ServeConfig(name="fuzz-open", route_prefix="/fuzz-open", **common))
    return secure, open_  # serve_url deletes both applications after the module


def test_openapi_is_behind_the_token_and_names_every_feature(served):
    secure, _ = served
    assert httpx.get(f"{secure}/openapi.json", timeout=30).status_code == 401
    assert httpx.get(f"{secure}/openapi.json", headers={"authorization": "Bearer nope"}, timeout=30).status_code == 401
    response = httpx.get(f"{secure}/openapi.json", headers=AUTH, timeout=30)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    document = response.json()
    row = document["components"]["schemas"]["Row"]
    assert set(row["required"]) == FEATURES and FEATURES <= set(row["properties"])
    assert row["properties"]["x1"]["type"] == "number"  # no missing values in training: not nullable
    assert row["properties"]["x2"]["type"] == ["number", "null"]
    assert row["properties"]["when"]["type"] == "string"
    assert row["additionalProperties"] is False  # reject_extra_columns
    predict = document["paths"]["/predict"]["post"]
    assert predict["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/PredictRequest")
    assert {"200", "400", "401", "413", "422", "503"} <= set(predict["responses"])
    actual = document["components"]["schemas"]["FeedbackRequest"]["properties"]["feedback"]["items"]
    assert sorted(actual["properties"]["actual"]["enum"]) == ["no", "yes"]
    assert document["security"] == [{"bearer": []}]
    assert document["servers"] == [{"url": "/fuzz"}]

    assert httpx.get(f"{secure}/docs", timeout=30).status_code == 401
    page = httpx.get(f"{secure}/docs", headers=AUTH, timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text and '"/predict"' in page.text  # the document is in the page


def test_openapi_and_docs_are_open_without_auth(served):
    _, open_ = served
    document = httpx.get(f"{open_}/openapi.json", timeout=30).json()
    assert "security" not in document and "401" not in document["paths"]["/predict"]["post"]["responses"]
    assert "additionalProperties" not in document["components"]["schemas"]["Row"]  # extra columns ignored
    page = httpx.get(f"{open_}/docs", timeout=30)
    assert page.status_code == 200 and "swagger-ui" in page.text


@pytest.fixture(scope="module")
def api(served):
    secure, _ = served
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTED}}})
    return schemathesis.openapi.from_url(f"{secure}/openapi.json", config=config, headers=AUTH, timeout=30)


@pytest.mark.parametrize("path", ["/predict", "/feedback"])
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
def test_fuzzed_requests_get_documented_answers_and_never_a_500(served, api, path, mode):
    secure, _ = served
    statuses: Counter[int] = Counter()

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,  # the same requests every run
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=api[path]["POST"].as_strategy(generation_mode=mode, headers=AUTH))  # the token fixed: bodies vary
    def fuzz(case: schemathesis.Case) -> None:
        response = case.call(base_url=secure, headers=AUTH, timeout=30)
        statuses[response.status_code] += 1
        assert response.status_code < 500 or response.status_code == 503, (response.status_code, response.text)
        checks = [status_code_conformance, content_type_conformance, response_schema_conformance]
        case.validate_response(response, checks=[*checks, negative_data_rejection], headers=AUTH)
        if mode == GenerationMode.POSITIVE and response.status_code != 503:  # what the document allows is served
            message = response.json().get("error", "")  # bytes and model limits are beyond a JSON schema:
            assert response.status_code == 200 or any(
                reason in message for reason in ("no finite prediction", "larger than 20000 bytes")
            ), (response.status_code, message)

    fuzz()
    assert sum(statuses.values()) >= EXAMPLES, statuses
    answered = statuses[200] if mode == GenerationMode.POSITIVE else sum(statuses[int(s)] for s in REJECTED)
    assert answered >= EXAMPLES // 2, statuses  # the fuzzer reached the model, or the checks
    health = httpx.get(f"{secure}/healthz", timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
