"""Model selections: the file (formats, atomic writes, hand edits) and how a model resolves."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from clocks import FakeClock

from proxyapi.config import validate_config
from proxyapi.errors import ModelNotFound, NoProviderAvailable, PermissionDenied
from proxyapi.gateway import Gateway, models_cache_key
from proxyapi.pipeline.requests import resolve, route
from proxyapi.selections import ModelSelections, Selection, parse_selections, resolve_model

# -- the file ----------------------------------------------------------------------------


def store(path: Path, clock: FakeClock) -> ModelSelections:
    return ModelSelections(path, clock=clock)


def write(path: Path, data: object) -> None:
    """A hand edit: the file rewritten in place, its mtime moved so the change is visible."""
    path.write_text(json.dumps(data))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_a_missing_file_means_no_selections(tmp_path: Path, clock: FakeClock) -> None:
    selections = store(tmp_path / "none.json", clock)
    assert selections.get("openai") is None
    assert selections.entries() == {}


def test_the_seed_format_is_read(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "s.json"
    entry = {"model_name": "gpt-4o", "editable": False, "last_updated": "2025-09-12T03:54:29"}
    write(path, {"openai": entry})
    assert store(path, clock).get("openai") == Selection("gpt-4o", False, "2025-09-12T03:54:29")


def test_the_legacy_format_is_read_as_editable_entries(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "s.json"
    write(path, {"openai": "gpt-4o"})
    assert store(path, clock).get("openai") == Selection("gpt-4o", editable=True)


def test_a_put_writes_the_current_format_and_keeps_other_entries(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "s.json"
    write(path, {"openai": "gpt-4o", "anthropic": "claude-3-haiku"})
    selection = store(path, clock).put("openai", "gpt-4o-mini")
    on_disk = json.loads(path.read_text())
    assert on_disk["anthropic"] == {
        "model_name": "claude-3-haiku",
        "editable": True,
        "last_updated": None,
    }
    assert on_disk["openai"]["model_name"] == "gpt-4o-mini"
    assert on_disk["openai"]["editable"] is True
    assert on_disk["openai"]["last_updated"] == selection.last_updated
    assert selection.last_updated is not None and selection.last_updated.endswith("+00:00")


def test_a_put_creates_the_directory_and_leaves_no_temporary_file(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "config" / "model_selections.json"
    store(path, clock).put("openai", "gpt-4o")
    assert [p.name for p in path.parent.iterdir()] == ["model_selections.json"]


def test_a_put_replaces_the_file_by_rename_never_rewriting_it_in_place(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "s.json"
    write(path, {"openai": "gpt-4o"})
    before = path.stat().st_ino
    store(path, clock).put("openai", "gpt-4o-mini")
    assert path.stat().st_ino != before


def test_a_failed_write_leaves_the_old_file_whole(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.json"
    write(path, {"openai": "gpt-4o"})

    def broken(source: str, target: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError):
        store(path, clock).put("openai", "gpt-4o-mini")
    assert json.loads(path.read_text()) == {"openai": "gpt-4o"}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_a_put_is_refused_when_the_entry_is_not_editable(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "s.json"
    write(path, {"openai": {"model_name": "gpt-4o", "editable": False}})
    with pytest.raises(PermissionDenied):
        store(path, clock).put("openai", "gpt-4o-mini")
    assert json.loads(path.read_text())["openai"]["model_name"] == "gpt-4o"


def test_a_hand_edit_is_picked_up_once_the_check_interval_passed(
    tmp_path: Path, clock: FakeClock
) -> None:
    path = tmp_path / "s.json"
    write(path, {"openai": "gpt-4o"})
    selections = store(path, clock)
    assert selections.get("openai") == Selection("gpt-4o")
    write(path, {"openai": "gpt-4o-mini"})
    assert selections.get("openai") == Selection("gpt-4o")  # checked moments ago
    clock.advance(0.5)
    assert selections.get("openai") == Selection("gpt-4o-mini")


def test_deleting_the_file_clears_the_selections(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "s.json"
    write(path, {"openai": "gpt-4o"})
    selections = store(path, clock)
    assert selections.get("openai") is not None
    path.unlink()
    clock.advance(1)
    assert selections.get("openai") is None


def test_a_malformed_edit_keeps_the_last_good_selections_and_warns_once(
    tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.json"
    write(path, {"openai": "gpt-4o"})
    selections = store(path, clock)
    assert selections.get("openai") == Selection("gpt-4o")
    path.write_text('{"openai": ')
    os.utime(path, ns=(0, path.stat().st_mtime_ns + 2_000_000_000))
    with caplog.at_level(logging.WARNING, logger="proxyapi.selections"):
        for _ in range(3):
            clock.advance(1)
            assert selections.get("openai") == Selection("gpt-4o")
    assert len(caplog.records) == 1
    assert "keeping the last good selections" in caplog.records[0].getMessage()


@pytest.mark.parametrize(
    "raw",
    [
        b"[]",
        b'{"openai": 3}',
        b'{"openai": ""}',
        b'{"openai": {"editable": true}}',
        b'{"openai": {"model_name": "m", "editable": "yes"}}',
        b'{"openai": {"model_name": "m", "last_updated": 5}}',
    ],
)
def test_malformed_files_are_refused_whole(raw: bytes) -> None:
    with pytest.raises(ValueError):
        parse_selections(raw)


def test_choose_falls_back_to_the_first_configured_model(tmp_path: Path, clock: FakeClock) -> None:
    selections = store(tmp_path / "none.json", clock)
    assert selections.choose("openai", ["a", "b"]) == Selection("a", source="default")
    assert selections.choose("openai", []) is None


# -- resolution, on plain names ---------------------------------------------------------

ROUTES = {"gpt-4o": ("openai", "azure"), "meta-llama/Llama-3-8B": ("together",)}
PROVIDERS = {name: name for name in ("openai", "azure", "together")}


def resolve_plain(requested: str, selected: dict[str, str]) -> tuple[str, tuple[str, ...]] | None:
    return resolve_model(requested, lambda m: ROUTES.get(m, ()), PROVIDERS, selected.get)


def test_a_routable_model_wins_even_with_a_slash_in_its_id() -> None:
    assert resolve_plain("meta-llama/Llama-3-8B", {}) == (
        "meta-llama/Llama-3-8B",
        ("together",),
    )
    assert resolve_plain("gpt-4o", {"gpt-4o": "other"}) == ("gpt-4o", ("openai", "azure"))


@pytest.mark.parametrize("requested", ["azure", "azure/default"])
def test_a_provider_name_means_its_selected_model_that_provider_first(requested: str) -> None:
    assert resolve_plain(requested, {"azure": "gpt-4o"}) == ("gpt-4o", ("azure", "openai"))


def test_a_selected_model_the_provider_does_not_list_still_goes_to_it_first() -> None:
    assert resolve_plain("together", {"together": "gpt-4o"}) == (
        "gpt-4o",
        ("together", "openai", "azure"),
    )


def test_a_provider_without_any_selection_is_not_found() -> None:
    with pytest.raises(ModelNotFound):
        resolve_plain("openai", {})


def test_provider_slash_model_pins_the_provider() -> None:
    assert resolve_plain("azure/gpt-4o", {}) == ("gpt-4o", ("azure",))


def test_pinning_a_model_the_provider_does_not_offer_is_not_found() -> None:
    with pytest.raises(ModelNotFound) as caught:
        resolve_plain("together/gpt-4o", {})
    assert "together/gpt-4o" in caught.value.message


def test_a_name_that_is_neither_model_nor_provider_resolves_to_nothing() -> None:
    assert resolve_plain("nobody/gpt-4o", {}) is None
    assert resolve_plain("unknown-model", {}) is None


# -- resolution, on a real Gateway -------------------------------------------------------


def provider(name: str, priority: int, models: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "openai",
        "api_key_env": f"{name.upper()}_KEY",
        "models": models,
        "priority": priority,
        **extra,
    }


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    config = validate_config(
        {
            "app": {"model_selections_file": str(tmp_path / "selections.json")},
            "providers": [
                provider("openai", 1, ["gpt-4o-mini", "gpt-4o"]),
                provider("backup", 2, ["gpt-4o"]),
                provider("off", 3, ["off-model"], enabled=False),
            ],
            "model_overrides": {"gpt-4o": {"max_tokens": 7}},
        }
    )
    return Gateway(config, environ={"OPENAI_KEY": "k", "BACKUP_KEY": "k"})


def names(route_found: tuple[str, tuple[Any, ...]]) -> tuple[str, list[str]]:
    model, candidates = route_found
    return model, [c.deployment.name for c in candidates]


def test_the_gateway_routes_a_provider_name_to_its_first_model_without_a_file(
    gateway: Gateway,
) -> None:
    assert names(route(gateway, "openai")) == ("gpt-4o-mini", ["openai"])


def test_the_gateway_routes_a_provider_name_to_the_selected_model(gateway: Gateway) -> None:
    gateway.selections.put("backup", "gpt-4o")
    assert names(route(gateway, "backup")) == ("gpt-4o", ["backup", "openai"])
    assert names(route(gateway, "backup/default")) == ("gpt-4o", ["backup", "openai"])


def test_the_gateway_pins_a_provider(gateway: Gateway) -> None:
    assert names(route(gateway, "backup/gpt-4o")) == ("gpt-4o", ["backup"])
    with pytest.raises(ModelNotFound):
        route(gateway, "backup/gpt-4o-mini")


def test_a_pinned_model_the_provider_discovered_is_offered(gateway: Gateway) -> None:
    backup = gateway.candidates_by_name["backup"].deployment
    gateway.models_cache.set_now(models_cache_key(backup), ("gpt-4.1",), 60, "models")
    assert names(route(gateway, "backup/gpt-4.1")) == ("gpt-4.1", ["backup"])


def test_a_disabled_provider_name_is_unavailable_not_unknown(gateway: Gateway) -> None:
    with pytest.raises(NoProviderAvailable):
        route(gateway, "off")
    with pytest.raises(ModelNotFound):
        route(gateway, "nobody")


def test_the_body_names_the_resolved_model_and_gets_its_overrides(gateway: Gateway) -> None:
    gateway.selections.put("openai", "gpt-4o")
    body: dict[str, Any] = {"model": "openai", "messages": []}
    model, _ = resolve(gateway, body, {"type": "http"}, "openai")
    assert model == "gpt-4o"
    assert body == {"model": "gpt-4o", "messages": [], "max_tokens": 7}
