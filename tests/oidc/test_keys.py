"""The provider's signing keys: made once on a developer's machine (owner-only,
never regenerated), several read from one environment variable."""

from recovery_console.oidc.keys import development_key, new_private_key, pem_blocks


def test_the_development_key_is_made_once_and_readable_by_its_owner_only(tmp_path):
    path = tmp_path / "var" / "oidc-signing-key.pem"
    first = development_key(path)
    assert first.startswith("-----BEGIN PRIVATE KEY-----")
    assert path.stat().st_mode & 0o777 == 0o600
    assert development_key(path) == first
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_inactive_keys_are_read_one_after_another_with_or_without_escaped_newlines():
    one, two = new_private_key(), new_private_key()
    assert pem_blocks(one + two) == [one, two]
    assert pem_blocks(one.replace("\n", "\\n")) == [one]
    assert pem_blocks("") == []
