"""API keys are kept as SHA-256 digests: hashing, generating, matching, and the config."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest

from proxyapi.config.loader import validate_config
from proxyapi.config.models import Config
from proxyapi.errors import ConfigError
from proxyapi.keys import KEY_PREFIX, KeyDigest, find_key, generate_key, hash_key

KEY = "pxy-s3cret-client-key-0123456789"
ADMIN = "pxy-s3cret-admin-key-9876543210"
PROVIDERS = [
    {
        "name": "p",
        "type": "openai",
        "api_key_env": "K",
        "models": ["m"],
        "base_url": "http://127.0.0.1:9",
    }
]


def config(**blocks: Any) -> Config:
    return validate_config({"providers": PROVIDERS, **blocks})


def test_hash_key_is_the_hex_sha256_of_the_key() -> None:
    assert hash_key(KEY) == hashlib.sha256(KEY.encode()).hexdigest()
    assert hash_key("ключ") == hashlib.sha256("ключ".encode()).hexdigest()


def test_a_digest_knows_its_hex_and_a_short_id() -> None:
    digest = KeyDigest.of(KEY)
    assert digest.hex == hash_key(KEY)
    assert digest.id == hash_key(KEY)[:12]


def test_a_digest_from_hex_equals_the_digest_of_the_key() -> None:
    assert KeyDigest.from_hex(hash_key(KEY)) == KeyDigest.of(KEY)
    assert KeyDigest.from_hex(hash_key(KEY).upper()) == KeyDigest.of(KEY)


@pytest.mark.parametrize("text", ["", "abc", "zz" * 32, hash_key(KEY)[:-2], hash_key(KEY) + "00"])
def test_from_hex_refuses_anything_but_a_sha256_hex_digest(text: str) -> None:
    with pytest.raises(ValueError):
        KeyDigest.from_hex(text)


def test_a_digest_shows_neither_the_key_nor_its_full_digest() -> None:
    digest = KeyDigest.of(KEY)
    for shown in (repr(digest), str(digest), f"{digest}", repr([digest])):
        assert KEY not in shown
        assert digest.hex not in shown
        assert digest.id in shown


def test_generated_keys_have_the_prefix_and_256_random_bits() -> None:
    key = generate_key()
    assert key.startswith(KEY_PREFIX)
    assert re.fullmatch(r"pxy-[A-Za-z0-9_-]{43}", key)


def test_generated_keys_are_unique() -> None:
    assert len({generate_key() for _ in range(200)}) == 200


def test_find_key_finds_the_matching_digest_among_several() -> None:
    digests = [KeyDigest.of(k) for k in ("first-key", KEY, "third-key")]
    assert find_key(KEY.encode(), digests) is digests[1]
    assert find_key(b"third-key", digests) is digests[2]


def test_find_key_returns_none_for_a_wrong_or_empty_key() -> None:
    digests = [KeyDigest.of(k) for k in ("first-key", KEY)]
    assert find_key(b"wrong-key", digests) is None
    assert find_key(b"", digests) is None
    assert find_key(KEY.encode()[:-1], digests) is None
    assert find_key(KEY.encode(), []) is None


def test_find_key_accepts_any_iterable_of_digests() -> None:
    assert find_key(KEY.encode(), iter([KeyDigest.of(KEY)])) == KeyDigest.of(KEY)


def test_configured_keys_are_digests_once_validated() -> None:
    loaded = config(auth={"api_keys": [KEY], "admin_keys": [ADMIN]})
    assert loaded.auth.api_keys == [KeyDigest.of(KEY)]
    assert loaded.auth.admin_keys == [KeyDigest.of(ADMIN)]


def test_the_plaintext_key_appears_nowhere_in_the_loaded_config() -> None:
    loaded = config(auth={"api_keys": [KEY], "admin_keys": [ADMIN]})
    for dump in (repr(loaded), str(loaded), loaded.model_dump_json(), repr(loaded.model_dump())):
        assert KEY not in dump
        assert ADMIN not in dump


def test_a_dumped_config_names_keys_by_their_digest() -> None:
    loaded = config(auth={"api_keys": [KEY]})
    assert loaded.model_dump()["auth"]["api_keys"] == [f"sha256:{hash_key(KEY)}"]


def test_blank_keys_are_dropped_and_keys_are_stripped() -> None:
    loaded = config(auth={"api_keys": ["", "   ", f" {KEY} "], "admin_keys": [""]})
    assert loaded.auth.api_keys == [KeyDigest.of(KEY)]
    assert loaded.auth.admin_keys == []


def test_a_key_that_is_not_a_string_is_a_config_error_that_does_not_echo_it() -> None:
    with pytest.raises(ConfigError) as caught:
        config(auth={"api_keys": [1234567890]})
    assert caught.value.problems == [
        "auth.api_keys[0]: an API key must be a string (quote it in YAML), not int"
    ]


def test_a_key_written_as_a_bare_string_is_a_list_of_one() -> None:
    assert config(auth={"api_keys": KEY}).auth.api_keys == [KeyDigest.of(KEY)]


@pytest.mark.parametrize(
    "blocks",
    [
        {"auth": {"api_keys": {"key": KEY}}},
        {"auth": {"admin_keys": [{"key": KEY}]}},
        {"authentication": {"api_keys": {"hashed_keys": [KEY]}}},
    ],
)
def test_a_misplaced_key_is_never_echoed_in_the_config_error(blocks: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as caught:
        config(**blocks)
    assert caught.value.problems
    assert KEY not in "\n".join(caught.value.problems)


def test_hashed_keys_are_digests_once_validated() -> None:
    loaded = config(authentication={"api_keys": {"hashed_keys": [hash_key(KEY)]}})
    assert loaded.authentication.api_keys.hashed_keys == [KeyDigest.of(KEY)]


def test_a_bad_hashed_key_is_a_config_error_naming_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        config(authentication={"api_keys": {"hashed_keys": ["not-a-digest", hash_key(KEY)]}})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("authentication.api_keys.hashed_keys[0]: ")
    assert "not a sha256 hex digest" in caught.value.problems[0]


def test_a_short_hashed_key_is_a_config_error_naming_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        config(authentication={"api_keys": {"hashed_keys": [hash_key(KEY), hash_key(KEY)[:40]]}})
    assert [p.split(":")[0] for p in caught.value.problems] == [
        "authentication.api_keys.hashed_keys[1]"
    ]
