"""Copy the few OpenAI response schemas the tests validate against into a fixture.

The full OpenAPI document (about 3 MB) lives outside the repository, in
../shared/specs; a user's own clone will not have it, so the tests read a small
extract instead. Every ``$ref`` the chosen schemas reach is copied too and kept
as ``#/components/schemas/...`` so the extract is one self-contained document.

Usage: python scripts/extract_openai_schemas.py [path/to/openai-openapi.yaml]
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = REPO_ROOT.parent / "shared" / "specs" / "openai-openapi.yaml"
OUTPUT = REPO_ROOT / "tests" / "fixtures" / "openai_schemas.json"
ROOT_SCHEMAS = (
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateEmbeddingResponse",
    "ListModelsResponse",
    "Model",
    "ErrorResponse",
)
REF_PREFIX = "#/components/schemas/"


def iter_refs(node: Any) -> Iterator[str]:
    """Yield every ``$ref`` string found anywhere under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from iter_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from iter_refs(item)


def collect_schemas(all_schemas: dict[str, Any], roots: tuple[str, ...]) -> dict[str, Any]:
    """Return the root schemas plus everything they reach through ``$ref``."""
    picked: dict[str, Any] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in picked:
            continue
        picked[name] = all_schemas[name]
        for ref in iter_refs(picked[name]):
            if not ref.startswith(REF_PREFIX):
                raise ValueError(f"{name}: unsupported $ref {ref!r}")
            pending.append(ref.removeprefix(REF_PREFIX))
    return dict(sorted(picked.items()))


def load_spec(path: Path) -> dict[str, Any]:
    """Parse the YAML spec, with libyaml when available (the file is large)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open(encoding="utf-8") as fh:
        spec: dict[str, Any] = yaml.load(fh, Loader=loader)
    return spec


def main(argv: list[str]) -> int:
    spec_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SPEC
    spec = load_spec(spec_path)
    schemas = collect_schemas(spec["components"]["schemas"], ROOT_SCHEMAS)
    document = {
        "_source": {
            "project": "OpenAI openai-openapi (https://github.com/openai/openai-openapi)",
            "file": spec_path.name,
            "version": spec["info"]["version"],
            "licence": "MIT (see openai-openapi.LICENSE next to the source file)",
            "generated_by": "scripts/extract_openai_schemas.py",
            "roots": list(ROOT_SCHEMAS),
        },
        "components": {"schemas": schemas},
    }
    OUTPUT.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    print(f"wrote {len(schemas)} schemas to {OUTPUT.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
