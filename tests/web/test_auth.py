"""Token store: hashed storage, issue / revoke / list, file re-read, EMC_WEB__TOKENS parsing."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from streams.web.auth import TokenStore, parse_env_tokens, token_digest
from streams.web.errors import TokenError


def test_issued_token_is_stored_hashed_and_authenticates(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    record, plaintext = store.issue("unit", "HA_NOI", "Hanoi operators")
    assert plaintext.startswith(f"emc_{record.id}_")
    text = (tmp_path / "tokens.json").read_text()
    assert plaintext not in text
    assert token_digest(plaintext) in text
    assert stat.S_IMODE((tmp_path / "tokens.json").stat().st_mode) == 0o600
    who = store.authenticate(plaintext)
    assert who is not None and (who.role, who.unit_code) == ("unit", "HA_NOI")
    assert who.may_see("HA_NOI") and not who.may_see("DA_NANG")


def test_wrong_and_malformed_tokens_are_refused(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    record, plaintext = store.issue("national")
    assert store.authenticate(plaintext[:-1] + ("A" if plaintext[-1] != "A" else "B")) is None
    assert store.authenticate(f"emc_{record.id}_") is None
    assert store.authenticate("") is None
    assert store.authenticate(None) is None
    assert store.authenticate("emc_zzzz_x") is None


def test_revoke_takes_effect_for_a_store_opened_before(tmp_path: Path) -> None:
    """The worker's store re-reads the file that `emc token revoke` (another store) rewrote."""
    worker_side = TokenStore(tmp_path / "tokens.json")
    cli_side = TokenStore(tmp_path / "tokens.json")
    record, plaintext = cli_side.issue("national", name="ops")
    assert worker_side.authenticate(plaintext) is not None
    revoked = cli_side.revoke(record.id)
    assert revoked.revoked_at_ms is not None
    assert worker_side.authenticate(plaintext) is None
    listed = {r.id: r for r in worker_side.records()}
    assert not listed[record.id].active
    with pytest.raises(TokenError):
        cli_side.revoke("000000000000")


def test_roles_are_checked(tmp_path: Path) -> None:
    store = TokenStore(tmp_path / "tokens.json")
    with pytest.raises(TokenError):
        store.issue("unit")
    with pytest.raises(TokenError):
        store.issue("national", "HA_NOI")
    with pytest.raises(TokenError):
        store.issue("admin")


def test_env_tokens_plaintext_or_digest(tmp_path: Path) -> None:
    spec = f"national=nat-secret, unit:HA_NOI=sha256:{token_digest('hn-secret')}"
    store = TokenStore(tmp_path / "none.json", spec)
    nat = store.authenticate("nat-secret")
    hn = store.authenticate("hn-secret")
    assert nat is not None and nat.role == "national"
    assert hn is not None and hn.unit_code == "HA_NOI"
    assert store.authenticate("sha256:" + token_digest("hn-secret")) is None
    assert all(r.sha256 != "nat-secret" for r in store.records())
    with pytest.raises(TokenError):
        store.revoke("env-1")
    for bad in ("national", "unit=x", "boss=x", "national=sha256:abc"):
        with pytest.raises(TokenError):
            parse_env_tokens(bad)


def test_broken_token_file_grants_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    store = TokenStore(path)
    _, plaintext = store.issue("national")
    path.write_text("{not json")
    assert store.authenticate(plaintext) is None
    path.write_text(json.dumps({"tokens": [{"id": 1}]}))
    assert store.authenticate(plaintext) is None
