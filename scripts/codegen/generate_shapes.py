#!/usr/bin/env python3
"""Generate the shape tables in Sources/SageMakerAPI/Shapes/Generated/ from botocore's models.

For each entry of ``SERVICES`` (SageMaker → ``SageMakerShapes.swift``, CloudWatch Logs →
``CloudWatchLogsShapes.swift``), reads the service model installed with botocore
(``botocore.loaders``), takes the transitive closure of the input and output shapes of the
listed operations, and writes a Swift enum with a ``named(_:)`` switch (a switch compiles fast; big dictionary literals of
enums are slow to type-check), the operation table and the list of shape names.

Every pattern of the closure is then checked with the validator's own pattern compiler
(``Sources/SageMakerAPI/Shapes/JavaPattern.swift``, built with ``swiftc`` together with
``check_patterns_main.swift``): patterns that need the NSRegularExpression fallback, and those
that neither Swift Regex nor NSRegularExpression compiles (the validator skips them), are
printed and written into the generated file's header. ``--skip-pattern-check`` skips that step
(when no Swift toolchain is at hand).

Usage: python3 scripts/codegen/generate_shapes.py [--check] [--skip-pattern-check]
  --check  exit 1 if the generated file on disk differs from what would be generated.

More services are added by appending to ``SERVICES``; each gets its own enum, and
``ShapeValidator(table:)`` picks the table a request is validated against.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import botocore
import botocore.session

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).resolve().relative_to(REPO).as_posix()


@dataclass(frozen=True)
class ServiceSpec:
    """One service model and the operations Trainyard serves from it."""

    model: str  # botocore service name, e.g. "sagemaker"
    enum_name: str  # Swift enum holding the shapes
    output: str  # path of the generated Swift file, relative to the repository
    operations: tuple[str, ...]


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        model="sagemaker",
        enum_name="SageMakerShapes",
        output="Sources/SageMakerAPI/Shapes/Generated/SageMakerShapes.swift",
        operations=(
            "CreateTrainingJob",
            "DescribeTrainingJob",
            "StopTrainingJob",
            "ListTrainingJobs",
            "UpdateTrainingJob",
            "DeleteTrainingJob",
            "AddTags",
            "ListTags",
            "DeleteTags",
        ),
    ),
    # CloudWatch Logs (target prefix Logs_20140328): what the SageMaker SDK's logs_for_job,
    # `aws logs` and log viewers call to read a training job's container output.
    ServiceSpec(
        model="logs",
        enum_name="CloudWatchLogsShapes",
        output="Sources/SageMakerAPI/Shapes/Generated/CloudWatchLogsShapes.swift",
        operations=(
            "DescribeLogGroups",
            "DescribeLogStreams",
            "GetLogEvents",
            "FilterLogEvents",
        ),
    ),
)


# ----------------------------------------------------------------------------------------------
# Model loading (shared with generate_openapi.py)


def load_model(service: str) -> dict:
    """The raw service-2 model of ``service`` as botocore ships it."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    return loader.load_service_model(service, "service-2")


def closure(model: dict, operations: tuple[str, ...]) -> list[str]:
    """Names of every shape reachable from the operations' inputs and outputs, sorted."""
    shapes = model["shapes"]
    seen: set[str] = set()
    stack: list[str] = []
    for name in operations:
        operation = model["operations"][name]
        for key in ("input", "output"):
            if key in operation:
                stack.append(operation[key]["shape"])
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        shape = shapes[name]
        for key in ("member", "key", "value"):
            if key in shape:
                stack.append(shape[key]["shape"])
        for member in shape.get("members", {}).values():
            stack.append(member["shape"])
    return sorted(seen)


def patterns_of(model: dict, names: list[str]) -> list[str]:
    """Distinct patterns of the given shapes, sorted."""
    shapes = model["shapes"]
    return sorted({shapes[n]["pattern"] for n in names if "pattern" in shapes[n]})


# ----------------------------------------------------------------------------------------------
# Swift rendering


def swift_string(text: str) -> str:
    """A Swift string literal for ``text``; raw (``#"..."#``) when it has backslashes/quotes."""
    if "\\" not in text and '"' not in text and "\n" not in text:
        return '"' + text + '"'
    hashes = "#"
    while f'"{hashes}' in text:
        hashes += "#"
    return f'{hashes}"{text}"{hashes}'


def swift_optional_int(value) -> str:
    return "nil" if value is None else str(int(value))


def swift_optional_double(value) -> str:
    return "nil" if value is None else repr(float(value))


def render_shape(name: str, shape: dict, indent: str) -> list[str]:
    """Lines of the ``return <Shape>`` statement for one shape."""
    kind = shape["type"]
    inner = indent + "    "
    if kind == "structure":
        members = shape.get("members", {})
        required = shape.get("required", [])
        lines = [f"{indent}return .structure("]
        if members:
            lines.append(f"{inner}members: [")
            for position, (member_name, member) in enumerate(members.items()):
                lines.append(
                    f'{inner}    "{member_name}": Member(shape: "{member["shape"]}", position: {position}),'
                )
            lines.append(f"{inner}],")
        else:
            lines.append(f"{inner}members: [:],")
        if required:
            lines.append(f"{inner}required: [" + ", ".join(f'"{r}"' for r in required) + "]")
        else:
            lines.append(f"{inner}required: []")
        lines.append(f"{indent})")
        return lines
    if kind == "list":
        return [
            f'{indent}return .list(member: "{shape["member"]["shape"]}", '
            f"min: {swift_optional_int(shape.get('min'))}, max: {swift_optional_int(shape.get('max'))})"
        ]
    if kind == "map":
        return [
            f'{indent}return .map(key: "{shape["key"]["shape"]}", value: "{shape["value"]["shape"]}", '
            f"min: {swift_optional_int(shape.get('min'))}, max: {swift_optional_int(shape.get('max'))})"
        ]
    if kind == "string":
        pattern = shape.get("pattern")
        enum = shape.get("enum")
        head = (
            f"{indent}return .string(min: {swift_optional_int(shape.get('min'))}, "
            f"max: {swift_optional_int(shape.get('max'))}, "
        )
        pattern_text = "nil" if pattern is None else swift_string(pattern)
        if enum is None:
            return [head + f"pattern: {pattern_text}, enumValues: nil)"]
        lines = [head + f"pattern: {pattern_text}, enumValues: ["]
        for value in enum:
            lines.append(f"{inner}{swift_string(value)},")
        lines.append(f"{indent}])")
        return lines
    if kind in ("integer", "long"):
        return [
            f"{indent}return .integer(min: {swift_optional_int(shape.get('min'))}, "
            f"max: {swift_optional_int(shape.get('max'))})"
        ]
    if kind in ("float", "double"):
        return [
            f"{indent}return .double(min: {swift_optional_double(shape.get('min'))}, "
            f"max: {swift_optional_double(shape.get('max'))})"
        ]
    if kind == "boolean":
        return [f"{indent}return .boolean"]
    if kind == "timestamp":
        if shape.get("timestampFormat", "unixTimestamp") != "unixTimestamp":
            raise SystemExit(f"{name}: timestampFormat {shape['timestampFormat']} is not supported")
        return [f"{indent}return .timestamp"]
    if kind == "blob":
        return [f"{indent}return .blob"]
    raise SystemExit(f"{name}: shape type {kind!r} is not supported by Shape")


def render_file(spec: ServiceSpec, model: dict, names: list[str], pattern_report: list[str]) -> str:
    shapes = model["shapes"]
    metadata = model["metadata"]
    out: list[str] = []
    out.append(f"// Generated by {SCRIPT} from botocore {botocore.__version__}")
    out.append(
        f"// ({spec.model} {metadata['apiVersion']}, service-2.json). Do not edit: change the script"
    )
    out.append("// and run it again.")
    out.append("//")
    words = (
        f"{len(names)} shapes: the transitive closure of the input and output shapes of "
        + ", ".join(spec.operations)
        + "."
    ).split(" ")
    line = "//"
    for word in words:
        if len(line) + 1 + len(word) > 96:
            out.append(line)
            line = "//"
        line += " " + word
    out.append(line)
    out.append("//")
    for line in pattern_report:
        out.append(("// " + line).rstrip())
    out.append("")
    out.append(f"/// The {metadata['serviceId']} shapes Trainyard serves, from botocore {botocore.__version__}.")
    out.append(f"public enum {spec.enum_name} {{")
    out.append('    /// The botocore release the shapes were generated from.')
    out.append(f'    public static let botocoreVersion = "{botocore.__version__}"')
    out.append("")
    out.append('    /// The operations, by name, with their input and output shape names (`nil`: no output).')
    out.append("    public static let operations: [String: (input: String, output: String?)] = [")
    for op in spec.operations:
        operation = model["operations"][op]
        input_shape = operation["input"]["shape"]
        output_shape = operation.get("output", {}).get("shape")
        output_text = "nil" if output_shape is None else f'"{output_shape}"'
        out.append(f'        "{op}": (input: "{input_shape}", output: {output_text}),')
    out.append("    ]")
    out.append("")
    out.append("    /// Every shape name ``named(_:)`` knows, sorted.")
    out.append("    public static let shapeNames: [String] = [")
    for name in names:
        out.append(f'        "{name}",')
    out.append("    ]")
    out.append("")
    out.append("    /// The shape called `name` in the model, or `nil`.")
    out.append("    public static func named(_ name: String) -> Shape? {")
    out.append("        switch name {")
    for name in names:
        out.append(f'        case "{name}":')
        out.extend(render_shape(name, shapes[name], "            "))
    out.append("        default:")
    out.append("            return nil")
    out.append("        }")
    out.append("    }")
    out.append("}")
    out.append("")
    return "\n".join(out)


# ----------------------------------------------------------------------------------------------
# Pattern check with the validator's own compiler


def check_patterns(patterns: list[str]) -> dict[str, str]:
    """Engine per pattern ("Swift Regex", "NSRegularExpression" or "none"), via swiftc."""
    source = REPO / "Sources/SageMakerAPI/Shapes/JavaPattern.swift"
    main = Path(__file__).resolve().parent / "check_patterns_main.swift"
    with tempfile.TemporaryDirectory() as tmp:
        binary = os.path.join(tmp, "check_patterns")
        # Top-level code must live in a file called main.swift.
        main_copy = os.path.join(tmp, "main.swift")
        Path(main_copy).write_text(main.read_text())
        subprocess.run(
            ["swiftc", "-O", "-module-name", "CheckPatterns", "-o", binary, str(source), main_copy],
            check=True,
        )
        result = subprocess.run(
            [binary], input="\n".join(patterns) + "\n", capture_output=True, text=True, check=True
        )
    engines = result.stdout.splitlines()
    if len(engines) != len(patterns):
        raise SystemExit(f"pattern check: {len(engines)} answers for {len(patterns)} patterns")
    return dict(zip(patterns, engines))


def pattern_report_lines(patterns: list[str], engines: dict[str, str] | None) -> list[str]:
    if engines is None:
        return [f"{len(patterns)} distinct patterns; not checked (--skip-pattern-check)."]
    fallback = [p for p in patterns if engines[p] == "Swift Regex"]
    broken = [p for p in patterns if engines[p] == "none"]
    lines = [
        f"Pattern check ({len(patterns)} distinct patterns, JavaPattern.swift):",
        f"  NSRegularExpression: {len(patterns) - len(fallback) - len(broken)}",
        f"  Swift Regex fallback: {len(fallback)}",
    ]
    lines += [f"    {p}" for p in fallback]
    lines.append(f"  compiled by neither (skipped by the validator): {len(broken)}")
    lines += [f"    {p}" for p in broken]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the output is out of date")
    parser.add_argument("--skip-pattern-check", action="store_true", help="do not run swiftc")
    args = parser.parse_args()
    stale = False
    for spec in SERVICES:
        model = load_model(spec.model)
        names = closure(model, spec.operations)
        patterns = patterns_of(model, names)
        engines = None if args.skip_pattern_check else check_patterns(patterns)
        report = pattern_report_lines(patterns, engines)
        print(f"{spec.enum_name}: {len(names)} shapes")
        for line in report:
            print("  " + line)
        text = render_file(spec, model, names, report)
        path = REPO / spec.output
        if args.check:
            if not path.exists() or path.read_text() != text:
                print(f"{spec.output} is out of date", file=sys.stderr)
                stale = True
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {spec.output}")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
