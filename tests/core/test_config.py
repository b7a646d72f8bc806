from __future__ import annotations

import multiprocessing
import stat
from pathlib import Path

import pytest

from app.core.config import ConfigurationError, Settings, ensure_secret_key, normalise_database_url


def settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def test_production_refuses_to_start_without_a_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SECRET_KEY is not set"):
        ensure_secret_key(settings(environment="production", data_dir=tmp_path))
    assert not (tmp_path / "secret_key").exists()


def test_production_refuses_a_short_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="at least 32"):
        ensure_secret_key(settings(environment="production", secret_key="changethis"))


def test_production_accepts_a_strong_key() -> None:
    key = "k" * 48
    resolved = ensure_secret_key(settings(environment="production", secret_key=key))
    assert resolved.signing_key == key


def test_development_generates_a_key_once_and_keeps_it(tmp_path: Path) -> None:
    first = ensure_secret_key(settings(data_dir=tmp_path)).signing_key
    second = ensure_secret_key(settings(data_dir=tmp_path)).signing_key
    assert first == second
    assert len(first) >= 32
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert list(tmp_path.iterdir()) == [key_file]  # no temporary files left behind


def _resolve_key(data_dir: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    barrier.wait()
    results.put(ensure_secret_key(settings(data_dir=Path(data_dir))).signing_key)


def test_workers_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    workers = 6
    barrier, results = ctx.Barrier(workers), ctx.Queue()
    processes = [
        ctx.Process(target=_resolve_key, args=(str(tmp_path), barrier, results))
        for _ in range(workers)
    ]
    for process in processes:
        process.start()
    keys = {results.get(timeout=30) for _ in processes}
    for process in processes:
        process.join(timeout=30)
    assert len(keys) == 1


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARLEY_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/parley")
    monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", "60")
    monkeypatch.setenv("BROKER_URL", "redis://cache:6379/1")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://a.example, https://b.example")
    loaded = Settings(_env_file=None)  # type: ignore[call-arg]
    assert loaded.production
    assert loaded.database_url == "postgresql+asyncpg://u:p@db:5432/parley"
    assert loaded.access_token_ttl_seconds == 60
    assert loaded.broker_url == "redis://cache:6379/1"
    assert loaded.cors_allow_origins == ["https://a.example", "https://b.example"]


def test_defaults_match_the_contract(tmp_path: Path) -> None:
    loaded = settings(data_dir=tmp_path)
    assert loaded.access_token_ttl_seconds == 900
    assert loaded.refresh_token_ttl_seconds == 30 * 24 * 3600
    assert loaded.broker_url == "memory://"
    assert loaded.replay_limit == 1000
    assert loaded.effective_database_url == f"sqlite+aiosqlite:///{tmp_path / 'parley.db'}"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://h/db", "postgresql+asyncpg://h/db"),
        ("postgresql://h/db", "postgresql+asyncpg://h/db"),
        ("postgresql+asyncpg://h/db", "postgresql+asyncpg://h/db"),
        ("sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_urls_get_async_drivers(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected


def test_send_queue_must_hold_two_commit_batches() -> None:
    with pytest.raises(ValueError, match="WS_SEND_QUEUE_SIZE"):
        settings(ws_send_queue_size=100, commit_batch_size=60)
    assert settings(ws_send_queue_size=120, commit_batch_size=60).ws_send_queue_size == 120
