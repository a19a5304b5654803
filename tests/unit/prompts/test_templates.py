"""Prompt templates: loading, rendering, globals, helpers, the sandbox and every error."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxyapi.config.prompts import TemplatesConfig
from proxyapi.errors import InvalidRequest
from proxyapi.prompts import PromptStore, build_chat_request

SUMMARY = {
    "description": "Summarise a text.",
    "variables": {
        "text": "The text to summarise",
        "audience": {"description": "Who reads it", "default": "engineers"},
    },
    "defaults": {"model": "gpt-4o-mini", "temperature": 0.2},
    "messages": [
        {"role": "system", "content": "You write for {{ app_name }}."},
        {"role": "user", "content": "For {{ audience }}: {{ text }}"},
    ],
}


def write(directory: Path, name: str, spec: Any) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False))
    return path


def one(content: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


def store_for(directory: Path, **settings: Any) -> PromptStore:
    return PromptStore(TemplatesConfig(directory=str(directory), **settings))


def render(store: PromptStore, name: str, **variables: Any) -> str:
    _, messages = store.render(name, variables)
    content: str = messages[-1]["content"]
    return content


def error_of(call: Any, *args: Any, **kwargs: Any) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        call(*args, **kwargs)
    assert caught.value.http_status == 400
    return caught.value


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    write(tmp_path, "summary.yaml", SUMMARY)
    return tmp_path


def test_yaml_file_renders_its_messages_with_globals_and_declared_defaults(
    directory: Path,
) -> None:
    store = store_for(directory, variables={"app_name": "Acme"})
    prompt, messages = store.render("summary", {"text": "hello"})
    assert messages == [
        {"role": "system", "content": "You write for Acme."},
        {"role": "user", "content": "For engineers: hello"},
    ]
    assert prompt.defaults == {"model": "gpt-4o-mini", "temperature": 0.2}


def test_request_variables_win_over_defaults_and_globals(directory: Path) -> None:
    store = store_for(directory, variables={"app_name": "Acme"})
    _, messages = store.render("summary", {"text": "x", "audience": "lawyers", "app_name": "B"})
    assert [m["content"] for m in messages] == ["You write for B.", "For lawyers: x"]


def test_json_and_yml_files_are_prompts_too(tmp_path: Path) -> None:
    write(tmp_path, "a.json", json.dumps(one("J {{ v }}")))
    write(tmp_path, "b.yml", one("Y {{ v }}"))
    write(tmp_path, "notes.txt", "not a prompt")
    store = store_for(tmp_path)
    assert store.names() == ["a", "b"]
    assert render(store, "a", v=1) == "J 1"
    assert render(store, "b", v=2) == "Y 2"


def test_missing_directory_lists_nothing_and_knows_no_template(tmp_path: Path) -> None:
    store = store_for(tmp_path / "absent")
    assert store.names() == []
    assert error_of(store.get, "summary").error_code == "template_not_found"


def test_describe_lists_declared_and_found_variables(directory: Path) -> None:
    write(directory, "found.yaml", one("{{ a }} {{ b | upper }} {{ now() }} {{ app_name }}"))
    store = store_for(directory, variables={"app_name": "Acme"})
    described = store.get("summary").describe()
    assert described["variables"] == [
        {"name": "text", "required": True, "description": "The text to summarise"},
        {
            "name": "audience",
            "required": False,
            "description": "Who reads it",
            "default": "engineers",
        },
    ]
    assert described["defaults"] == {"model": "gpt-4o-mini", "temperature": 0.2}
    names = [v["name"] for v in store.get("found").describe()["variables"]]
    assert names == ["a", "b"]  # functions and globals are not variables


def test_messages_append_and_overrides_win_over_defaults(directory: Path) -> None:
    store = store_for(directory, variables={"app_name": "Acme"})
    extra = [{"role": "user", "content": "and more"}]
    body = build_chat_request(
        store,
        "summary",
        {"variables": {"text": "t"}, "model": "gpt-4o", "stream": True, "messages": extra},
    )
    assert body["model"] == "gpt-4o"
    assert body["temperature"] == 0.2
    assert body["stream"] is True
    assert body["messages"][-1] == extra[0]
    assert len(body["messages"]) == 3
    assert "variables" not in body


def test_defaults_are_copied_for_each_request(directory: Path) -> None:
    write(directory, "stops.yaml", {**one("x"), "defaults": {"stop": ["a"]}})
    store = store_for(directory)
    build_chat_request(store, "stops", {})["stop"].append("b")
    assert build_chat_request(store, "stops", {})["stop"] == ["a"]


@pytest.mark.parametrize("variables", [["a"], "a", 3])
def test_variables_that_are_not_an_object_are_refused(directory: Path, variables: Any) -> None:
    store = store_for(directory)
    error = error_of(build_chat_request, store, "summary", {"variables": variables})
    assert error.param == "variables"


def test_messages_that_are_not_a_list_are_refused(directory: Path) -> None:
    store = store_for(directory)
    error = error_of(build_chat_request, store, "summary", {"variables": {}, "messages": "hi"})
    assert error.param == "messages"


# ---------------------------------------------------------------- filters and functions


def test_json_encode_filter(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", one("{{ data | json_encode }}"))
    assert json.loads(render(store_for(tmp_path), "p", data={"a": [1, "é"]})) == {"a": [1, "é"]}


def test_base64_encode_filter(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", one("{{ text | base64_encode }}"))
    assert render(store_for(tmp_path), "p", text="héllo") == base64.b64encode(
        "héllo".encode()
    ).decode("ascii")


def test_hash_filter_defaults_to_sha256_and_takes_an_algorithm(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", one("{{ text | hash }} {{ text | hash('md5') }}"))
    sha, md5 = render(store_for(tmp_path), "p", text="abc").split()
    assert sha == hashlib.sha256(b"abc").hexdigest()
    assert md5 == hashlib.md5(b"abc").hexdigest()


def test_hash_filter_refuses_an_unknown_algorithm(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", one("{{ text | hash('rot13') }}"))
    error = error_of(render, store_for(tmp_path), "p", text="x")
    assert error.error_code == "template_error"


def test_now_function(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", one("{{ now() }}|{{ now('%Y') }}"))
    stamp, year = render(store_for(tmp_path), "p").split("|")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", stamp)
    assert year == stamp[:4]


def test_uuid_function(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", one("{{ uuid() }} {{ uuid() }}"))
    first, second = render(store_for(tmp_path), "p").split()
    assert uuid.UUID(first).version == 4
    assert first != second


def test_random_function(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", one("{{ random() }}|{{ random(3, 5) }}|{{ random(['x', 'y']) }}"))
    number, integer, choice = render(store_for(tmp_path), "p").split("|")
    assert 0 <= float(number) < 1
    assert integer in {"3", "4", "5"}
    assert choice in {"x", "y"}


@pytest.mark.parametrize("name", ["json_encode", "base64_encode", "hash"])
def test_disabled_filter_is_a_template_error(tmp_path: Path, name: str) -> None:
    write(tmp_path, "p.yaml", one(f"{{{{ 'x' | {name} }}}}"))
    store = store_for(tmp_path, filters={name: False})
    error = error_of(render, store, "p")
    assert error.error_code == "template_error"
    assert name in error.message


@pytest.mark.parametrize("name", ["now", "uuid", "random"])
def test_disabled_function_is_a_template_error_naming_the_switch(tmp_path: Path, name: str) -> None:
    write(tmp_path, "p.yaml", one(f"{{{{ {name}() }}}}"))
    store = store_for(tmp_path, functions={name: False})
    error = error_of(render, store, "p")
    assert error.error_code == "template_error"
    assert f"templates.functions.{name}" in error.message


def test_other_helpers_stay_on_when_one_is_switched_off(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", one("{{ 'a' | hash }} {{ uuid() }}"))
    store = store_for(tmp_path, filters={"json_encode": False}, functions={"now": False})
    assert len(render(store, "p").split()) == 2


# ---------------------------------------------------------------- the sandbox


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ text.__class__.__init__.__globals__ }}",
        "{{ now.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ data.__len__() }}",
        "{{ items.append(1) }}",
        "{{ data.update({'a': 1}) }}",
        "{{ 'a' * 10000000 }}",
        "{{ 2 ** 100000 }}",
    ],
)
def test_sandbox_refuses_python_internals_and_mutation(tmp_path: Path, source: str) -> None:
    write(tmp_path, "p.yaml", one(source))
    store = store_for(tmp_path)
    error = error_of(render, store, "p", text="x", data={}, items=[])
    assert error.error_code == "template_error"
    assert "'p'" in error.message


def test_sandbox_refuses_bare_attribute_of_internals_as_unsafe(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", one("{{ ''.__class__ }}"))
    error = error_of(render, store_for(tmp_path), "p")
    assert "sandbox" in error.message
    assert "unsafe" in error.message


def test_include_cannot_leave_the_directory(tmp_path: Path) -> None:
    directory = tmp_path / "t"
    write(tmp_path, "secret.txt", "SECRET")
    write(directory, "p.yaml", one("{% include '../secret.txt' %}"))
    error = error_of(render, store_for(directory), "p")
    assert error.error_code == "template_error"


def test_include_reads_partials_from_the_directory(tmp_path: Path) -> None:
    write(tmp_path, "partials/tone.jinja", "Be {{ tone }}.")
    write(tmp_path, "p.yaml", one("{% include 'partials/tone.jinja' %} Go."))
    assert render(store_for(tmp_path), "p", tone="brief") == "Be brief. Go."


# ---------------------------------------------------------------- errors


def test_missing_declared_variables_are_named_together(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", {**one("{{ a }}{{ b }}"), "variables": {"a": "A", "b": "B"}})
    error = error_of(render, store_for(tmp_path), "p")
    assert error.error_code == "missing_variable"
    assert "'a', 'b'" in error.message
    assert error.param == "variables.a"


def test_missing_undeclared_variable_is_named(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", one("Hi {{ who }}"))
    error = error_of(render, store_for(tmp_path), "p")
    assert error.error_code == "missing_variable"
    assert "'who'" in error.message
    assert error.param == "variables.who"


def test_a_global_satisfies_a_declared_variable(tmp_path: Path) -> None:
    write(tmp_path, "p.yaml", {**one("{{ env }}"), "variables": {"env": "where"}})
    assert render(store_for(tmp_path, variables={"env": "prod"}), "p") == "prod"


@pytest.mark.parametrize("name", ["nope", "../summary", "a/b", ".hidden", ""])
def test_unknown_template_is_template_not_found(directory: Path, name: str) -> None:
    error = error_of(store_for(directory).get, name)
    assert error.error_code == "template_not_found"
    assert error.param == "name"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (one("{{ unclosed"), "line 1"),
        (one("{% for x in %}"), "messages[0]"),
        ("messages: [unbalanced", "cannot read"),
        ("- just\n- a list\n", "mapping"),
        ({"messages": []}, "non-empty"),
        ({"messages": [{"content": "x"}]}, "role"),
        ({"messages": [{"role": "user", "content": 3}]}, "string"),
        ({**one("x"), "defaults": [1]}, "defaults"),
        ({**one("x"), "variables": ["a"]}, "variables"),
        (one("{{ 1 / 0 }}"), "ZeroDivisionError"),
        (one("{{ {}['a'] }}"), "p"),
    ],
)
def test_broken_template_is_a_template_error_naming_it(
    tmp_path: Path, text: Any, reason: str
) -> None:
    write(tmp_path, "p.yaml", text)
    error = error_of(render, store_for(tmp_path), "p")
    assert error.error_code == "template_error"
    assert "Prompt template 'p'" in error.message
    assert reason in error.message


def test_invalid_json_file_is_a_template_error(tmp_path: Path) -> None:
    write(tmp_path, "p.json", "{nope")
    assert error_of(store_for(tmp_path).get, "p").error_code == "template_error"


# ---------------------------------------------------------------- cache and reload


def touch_later(path: Path, text: str) -> None:
    """Rewrite ``path`` with a modification time surely different from before."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_prompt_is_compiled_once_and_kept_without_auto_reload(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", one("old"))
    store = store_for(tmp_path)
    first = store.get("p")
    touch_later(path, yaml.safe_dump(one("new")))
    assert store.get("p") is first
    assert render(store, "p") == "old"


def test_auto_reload_picks_up_an_edited_file(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", one("old"))
    store = store_for(tmp_path, auto_reload=True)
    first = store.get("p")
    assert store.get("p") is first  # unchanged file: not compiled again
    touch_later(path, yaml.safe_dump(one("new")))
    assert render(store, "p") == "new"


def test_auto_reload_forgets_a_deleted_file(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", one("x"))
    store = store_for(tmp_path, auto_reload=True)
    store.get("p")
    path.unlink()
    assert error_of(store.get, "p").error_code == "template_not_found"


def test_cache_keeps_at_most_cache_size_prompts(tmp_path: Path) -> None:
    for name in "abc":
        write(tmp_path, f"{name}.yaml", one(name))
    store = store_for(tmp_path, cache_size=2)
    a = store.get("a")
    store.get("b")
    store.get("a")  # a is now the most recently used
    store.get("c")  # b goes
    assert store.get("a") is a
    assert list(store._cache) == ["c", "a"]


def test_the_readme_template_example_renders(tmp_path: Path) -> None:
    readme = Path(__file__).resolve().parents[3] / "README.md"
    example = re.search(r"```yml\n(# templates/summarise.yaml\n.*?)```", readme.read_text(), re.S)
    assert example is not None
    write(tmp_path, "summarise.yaml", example.group(1))
    store = store_for(tmp_path, variables={"app_name": "Acme"})
    body = build_chat_request(store, "summarise", {"variables": {"text": "T"}})
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][1]["content"] == "Summarise for engineers:\nT"
    assert body["messages"][0]["content"].startswith("You write for Acme. Request ")
