#!/usr/bin/env python3
"""Generate openapi/trainyard.yaml (OpenAPI 3.0.3) from botocore's service models.

Every operation Trainyard serves is documented in its path form, ``POST /<TargetPrefix>.<Op>``
(e.g. ``POST /SageMaker.CreateTrainingJob``), with the request and response schemas derived from
the same shapes as the Swift code (``generate_shapes.py``: the same operation lists, the same
transitive closure). The document is validated with ``openapi-spec-validator`` before it is
written.

Usage: python3 scripts/codegen/generate_openapi.py [--check]
  --check  exit 1 if openapi/trainyard.yaml differs from what would be generated.

Every service of ``API_SERVICES`` is documented: SageMaker (``SageMaker.*``) and CloudWatch Logs
(``Logs_20140328.*``, botocore's ``logs`` model). Schemas of services after the first get a
prefix (``Logs``) so that shape names of different models cannot collide.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import botocore
import yaml
from openapi_spec_validator import validate

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_shapes import SERVICES, closure, load_model  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "openapi/trainyard.yaml"
SCRIPT = Path(__file__).resolve().relative_to(REPO).as_posix()

REQUEST_CONTENT_TYPES = ("application/x-amz-json-1.1", "application/json")
ERROR_SCHEMA = "AwsJsonError"


@dataclass(frozen=True)
class ApiService:
    """A botocore model whose operations Trainyard serves under ``/<targetPrefix>.<Op>``."""

    model: str
    operations: tuple[str, ...]
    schema_prefix: str  # prepended to component names ("" for SageMaker)
    tag: str
    # The code constraint violations get: CloudWatch Logs answers them with
    # InvalidParameterException (observed: fluent-plugin-cloudwatch-logs#116).
    validation_error: str = "ValidationException"
    # AWS JSON 1.1, except CloudWatch (metrics), which botocore speaks as AWS JSON 1.0.
    content_type: str = "application/x-amz-json-1.1"


API_SERVICES: tuple[ApiService, ...] = (
    ApiService(
        model="sagemaker",
        operations=next(s.operations for s in SERVICES if s.model == "sagemaker"),
        schema_prefix="",
        tag="SageMaker",
    ),
    ApiService(
        model="logs",
        operations=next(s.operations for s in SERVICES if s.model == "logs"),
        schema_prefix="Logs",
        tag="CloudWatch Logs",
        validation_error="InvalidParameterException",
    ),
    # CloudWatch metrics of training jobs (GraniteServiceVersion20100801, botocore's cloudwatch
    # model): what TrainingJobAnalytics and the dashboard read. Its errors carry the query code
    # in `x-amzn-query-error` (InvalidParameterValue, MissingParameter, ...).
    ApiService(
        model="cloudwatch",
        operations=("ListMetrics", "GetMetricStatistics", "GetMetricData"),
        schema_prefix="CloudWatch",
        tag="CloudWatch",
        validation_error="InvalidParameterValueException",
        content_type="application/x-amz-json-1.0",
    ),
)

# Error codes a client can get from any operation (api-fidelity.md §1), besides those the model
# declares per operation.
COMMON_ERRORS = ("ValidationException", "SerializationException", "UnknownOperationException")


def python_compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def plain_text(documentation: str | None, sentences: int = 1) -> str:
    """The first sentence(s) of a botocore doc string, without HTML."""
    if not documentation:
        return ""
    text = html.unescape(re.sub(r"<[^>]+>", " ", documentation))
    text = re.sub(r"\s+", " ", text).strip()
    parts = re.split(r"(?<=\.)\s", text)
    return " ".join(parts[:sentences]).strip()


class SchemaBuilder:
    """Turns botocore shapes into OpenAPI 3.0 schema objects."""

    def __init__(self, model: dict, prefix: str):
        self.shapes = model["shapes"]
        self.prefix = prefix

    def ref(self, shape_name: str) -> dict:
        return {"$ref": f"#/components/schemas/{self.prefix}{shape_name}"}

    def schema(self, name: str) -> dict:
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "structure":
            schema: dict = {"type": "object"}
            description = plain_text(shape.get("documentation"))
            if description:
                schema["description"] = description
            members = shape.get("members", {})
            schema["properties"] = {m: self.ref(member["shape"]) for m, member in members.items()}
            if shape.get("required"):
                schema["required"] = list(shape["required"])
            return schema
        if kind == "list":
            schema = {"type": "array", "items": self.ref(shape["member"]["shape"])}
            self._bounds(schema, shape, "minItems", "maxItems")
            return schema
        if kind == "map":
            key = self.shapes[shape["key"]["shape"]]
            schema = {
                "type": "object",
                "additionalProperties": self.ref(shape["value"]["shape"]),
                "description": "Keys: " + self._key_description(shape["key"]["shape"], key),
            }
            self._bounds(schema, shape, "minProperties", "maxProperties")
            return schema
        if kind == "string":
            schema = {"type": "string"}
            self._bounds(schema, shape, "minLength", "maxLength")
            if "pattern" in shape:
                # The model's Java pattern, verbatim, must match the whole value. As a JSON
                # Schema `pattern` (unanchored) it is anchored; Java-only syntax such as `\p{L}`
                # (valid in ECMA-262 only with the `u` flag, invalid for Python-based validators
                # like openapi-spec-validator) keeps only the `x-java-pattern` form.
                schema["x-java-pattern"] = shape["pattern"]
                anchored = "^(?:" + shape["pattern"] + ")$"
                if python_compiles(anchored):
                    schema["pattern"] = anchored
            if "enum" in shape:
                schema["enum"] = list(shape["enum"])
            return schema
        if kind in ("integer", "long"):
            schema = {"type": "integer", "format": "int32" if kind == "integer" else "int64"}
            self._bounds(schema, shape, "minimum", "maximum")
            return schema
        if kind in ("float", "double"):
            schema = {"type": "number", "format": kind}
            self._bounds(schema, shape, "minimum", "maximum")
            return schema
        if kind == "boolean":
            return {"type": "boolean"}
        if kind == "timestamp":
            return {
                "type": "number",
                "description": "Seconds since 1970-01-01T00:00:00Z (may be fractional).",
            }
        if kind == "blob":
            return {"type": "string", "format": "byte"}
        raise SystemExit(f"{name}: shape type {kind!r} is not supported")

    @staticmethod
    def _bounds(schema: dict, shape: dict, low: str, high: str) -> None:
        if "min" in shape:
            schema[low] = shape["min"]
        if "max" in shape:
            schema[high] = shape["max"]

    @staticmethod
    def _key_description(name: str, key: dict) -> str:
        parts = [name]
        if "min" in key or "max" in key:
            parts.append(f"length {key.get('min', 0)}..{key.get('max', '')}".rstrip("."))
        if "pattern" in key:
            parts.append(f"pattern `{key['pattern']}`")
        if "enum" in key:
            parts.append("one of " + ", ".join(key["enum"]))
        return "; ".join(parts) + "."


def error_schema() -> dict:
    return {
        "type": "object",
        "description": (
            "AWS JSON 1.1 error body. botocore takes the error code from `__type` (text after "
            "the last `#`) and the message from `message`."
        ),
        "properties": {
            "__type": {"type": "string", "example": "ValidationException"},
            "message": {"type": "string"},
        },
        "required": ["__type", "message"],
    }


def json_content(schema: dict, first: str = REQUEST_CONTENT_TYPES[0]) -> dict:
    types = dict.fromkeys((first, *REQUEST_CONTENT_TYPES))
    return {content_type: {"schema": dict(schema)} for content_type in types}


def request_id_header() -> dict:
    return {
        "x-amzn-RequestId": {
            "description": "Request id (botocore reads it into ResponseMetadata.RequestId).",
            "schema": {"type": "string"},
        }
    }


def operation_object(service: ApiService, model: dict, builder: SchemaBuilder, name: str) -> dict:
    operation = model["operations"][name]
    declared = [e["shape"] for e in operation.get("errors", [])]
    common = [service.validation_error if code == "ValidationException" else code for code in COMMON_ERRORS]
    errors = ", ".join(f"`{code}`" for code in dict.fromkeys((*common, *declared)))
    output = operation.get("output", {}).get("shape")
    ok_schema = builder.ref(output) if output else {"type": "object", "description": "Always `{}`."}
    target = f"{model['metadata']['targetPrefix']}.{name}"
    return {
        "operationId": name,
        "tags": [service.tag],
        "summary": plain_text(operation.get("documentation")),
        "description": (
            f"Same operation as `POST /` with header `X-Amz-Target: {target}`. "
            + plain_text(operation.get("documentation"), sentences=3)
        ),
        "requestBody": {
            "required": True,
            "content": json_content(builder.ref(operation["input"]["shape"]), service.content_type),
        },
        "responses": {
            "200": {
                "description": "Success.",
                "headers": request_id_header(),
                "content": {service.content_type: {"schema": ok_schema}},
            },
            "400": {
                "description": f"Client error; `__type` is one of {errors}.",
                "headers": request_id_header(),
                "content": {
                    service.content_type: {
                        "schema": {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
                    }
                },
            },
        },
    }


def health_path() -> dict:
    return {
        "get": {
            "operationId": "Health",
            "tags": ["Trainyard"],
            "summary": "Liveness and readiness (database open, container runtime reachable).",
            "responses": {
                "200": {
                    "description": "Ready.",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "additionalProperties": True}
                        }
                    },
                },
                "503": {
                    "description": "Running but not ready (e.g. the container runtime is unreachable).",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "additionalProperties": True}
                        }
                    },
                },
            },
        }
    }


def build_document() -> dict:
    paths: dict = {}
    schemas: dict = {ERROR_SCHEMA: error_schema()}
    tags = []
    prefixes = []
    versions = []
    for service in API_SERVICES:
        model = load_model(service.model)
        builder = SchemaBuilder(model, service.schema_prefix)
        target_prefix = model["metadata"]["targetPrefix"]
        prefixes.append(target_prefix)
        versions.append(f"{service.model} {model['metadata']['apiVersion']}")
        tags.append(
            {
                "name": service.tag,
                "description": f"{model['metadata']['serviceFullName']} "
                f"({service.model} {model['metadata']['apiVersion']}), as modelled by botocore "
                f"{botocore.__version__}.",
            }
        )
        for name in service.operations:
            paths[f"/{target_prefix}.{name}"] = {
                "post": operation_object(service, model, builder, name)
            }
        for shape_name in closure(model, service.operations):
            schemas[service.schema_prefix + shape_name] = builder.schema(shape_name)
    paths["/health"] = health_path()
    tags.append({"name": "Trainyard", "description": "Trainyard's own endpoints."})
    header_forms = ", ".join(f"`X-Amz-Target: {p}.<Operation>`" for p in prefixes)
    description = f"""\
Trainyard emulates the Amazon SageMaker training control plane over the AWS JSON 1.1 protocol, \
so boto3, the AWS CLI and the SageMaker Python SDK work against it (`endpoint_url`).

Each operation below is served in two equivalent forms:

- **Header form** (what AWS SDKs send): `POST /` with {header_forms} and \
`Content-Type: application/x-amz-json-1.1` (`application/x-amz-json-1.0` for CloudWatch).
- **Path form** (documented here, for curl and generated clients): \
`POST /<TargetPrefix>.<Operation>`, e.g. `POST /SageMaker.DescribeTrainingJob`.

The request body is always a JSON object (`{{}}` when there are no parameters). SageMaker \
timestamps are epoch seconds as JSON numbers (CloudWatch's too); CloudWatch Logs timestamps are \
epoch milliseconds as JSON integers. Errors are HTTP 400 with `{{"__type": "<Code>", "message": \
"..."}}`; constraint violations are `ValidationException` (`InvalidParameterException` for \
CloudWatch Logs) with AWS's message format (`1 validation error detected: Value '...' at \
'trainingJobName' failed to satisfy constraint: ...`), bodies of the wrong JSON type \
`SerializationException`. `x-java-pattern` is the model's \
Java regular expression, which must match the whole value; `pattern` is the same, anchored, where \
it is also valid for common JSON Schema validators. `GET /health` reports liveness and readiness.

Generated by `{SCRIPT}` from botocore {botocore.__version__}; do not edit."""
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Trainyard",
            "version": f"botocore {botocore.__version__}: " + ", ".join(versions),
            "description": description,
        },
        "servers": [{"url": "http://127.0.0.1:8080", "description": "`trainyard serve` defaults"}],
        "tags": tags,
        "paths": paths,
        "components": {"schemas": schemas},
    }


class _NoAliasDumper(yaml.SafeDumper):
    """Writes repeated sub-objects in full instead of YAML anchors/aliases, and multi-line
    strings as literal blocks."""

    def ignore_aliases(self, data) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str):
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_NoAliasDumper.add_representer(str, _represent_str)


def render(document: dict) -> str:
    header = (
        f"# Generated by {SCRIPT} from botocore {botocore.__version__}. Do not edit.\n"
        "# Validated with openapi-spec-validator.\n"
    )
    body = yaml.dump(
        document, Dumper=_NoAliasDumper, sort_keys=False, allow_unicode=True, width=100
    )
    return header + body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the output is out of date")
    args = parser.parse_args()
    document = build_document()
    validate(document)
    text = render(document)
    # What is written must also be what validates.
    validate(yaml.safe_load(text))
    operations = sum(len(s.operations) for s in API_SERVICES)
    schemas = len(document["components"]["schemas"])
    print(f"OpenAPI 3.0.3: {operations} operations + /health, {schemas} schemas; valid")
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT.relative_to(REPO)} is out of date", file=sys.stderr)
            return 1
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
