"""Security: no secret in clear after a LIVE session, bcrypt-only passwords, per-user isolation
through the command table, and loopback-only services by default.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import stat
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import bcrypt
import pytest
import yaml

from tests.integration.conftest import NoWaitClock, Simulator, SimulatorFactory
from tradebot.cli import build_parser
from tradebot.cli.launch import dashboard_command_line, engine_command_line
from tradebot.core.errors import SettingsError
from tradebot.engine.bootstrap import RunRequest, build_loop
from tradebot.engine.engine_runner import UserRunner
from tradebot.engine.runner_types import Loop, RunnerSettings
from tradebot.exchange.simulator import build_config
from tradebot.exchange.simulator.config import SimulatorConfig
from tradebot.exchange.simulator.server import SimulatedTimeClock
from tradebot.services.credentials import COOKIE_KEY_FILE, CREDENTIALS_FILE, load_credentials
from tradebot.services.records import CommandKind, CommandRequest, Side
from tradebot.services.secrets import KEY_FILE_NAME
from tradebot.services.storage import open_user_store
from tradebot.services.trading_control import submit_command
from tradebot.services.user_admin import (
    BCRYPT_MAX_BYTES,
    UpbitKeys,
    check_password,
    create_user,
    hash_password,
    save_keys,
)
from tradebot.services.users import params_path

USER = "alice"
PASSWORD = "alice-password-1"  # noqa: S105 - a test password
ACCESS_KEY = "security-live-access-key-0001"
SECRET_KEY = "security0live0secret0key0for0tests0only0"  # noqa: S105 - fake key of the fake exchange
BCRYPT_HASH = re.compile(r"\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}")
CYCLES = 150
NOW = datetime(2026, 3, 22, 12, 47, tzinfo=UTC)


def encodings(secret: str) -> dict[str, bytes]:
    """`secret` as it could leak: clear, hex, and base64 / base64url at every byte alignment.

    For base64 the characters that also depend on neighbouring bytes (at both ends) are dropped,
    so the needle matches wherever the secret sits inside a longer encoded text.
    """
    raw = secret.encode("utf-8")
    forms = {"clear": raw, "hex": raw.hex().encode(), "HEX": raw.hex().upper().encode()}
    for shift in range(3):
        start = -(-shift * 8 // 6)  # characters that still hold bits of the preceding bytes
        for name, encode in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            forms[f"{name}+{shift}"] = encode(b"\0" * shift + raw)[start:-4]
    return forms


def leaks(content: bytes, secrets: dict[str, str]) -> list[str]:
    """`which secret / which encoding` for every needle found in `content`."""
    return [
        f"{name}/{form}"
        for name, secret in secrets.items()
        for form, needle in encodings(secret).items()
        if needle in content
    ]


def scan_directory(home: Path, secrets: dict[str, str]) -> dict[str, list[str]]:
    """Every file under `home` (databases, WAL, JSON, YAML, logs) with the secrets found in it."""
    found = {}
    for path in sorted(home.rglob("*")):
        if path.is_file():
            hits = leaks(path.read_bytes(), secrets)
            if hits:
                found[str(path.relative_to(home))] = hits
    return found


@pytest.fixture
def live_exchange(simulator_factory: SimulatorFactory) -> Simulator:
    accounts = [{"access_key": ACCESS_KEY, "secret_key": SECRET_KEY, "balances": {"KRW": "1000000"}}]
    return simulator_factory(markets=["KRW-BTC"], accounts=accounts, seed=11, rate_limits={"enforce": False})


def prepare_live_user(home: Path) -> None:
    create_user(home, USER, PASSWORD, datetime.now(UTC))
    path = params_path(home, USER)
    params = json.loads(path.read_text())
    params.update(interval="minute1", warmup_bars=40, take_profit=0.004, stop_loss=0.004, trailing_stop=0.003)
    path.write_text(json.dumps(params))
    save_keys(home, USER, UpbitKeys(ACCESS_KEY, SECRET_KEY), datetime.now(UTC))


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """Every record of every logger, at DEBUG, into a log file inside the data directory."""
    path = tmp_path / "logs" / "tradebot.log"
    path.parent.mkdir()
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield path
    root.removeHandler(handler)
    root.setLevel(old_level)
    handler.close()


def test_live_session_leaves_no_key_or_password_in_clear_in_files_or_logs(
    live_exchange: Simulator,
    tmp_path: Path,
    resources: ExitStack,
    log_file: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    prepare_live_user(tmp_path)
    request = RunRequest(tmp_path, USER, "LIVE", live_exchange.base_url, live_confirmed=True)
    session = live_exchange.session(clock=NoWaitClock())
    loop = build_loop(request, SimulatedTimeClock(live_exchange.server), resources, session=session)
    loop.start()
    for _ in range(CYCLES):
        live_exchange.step(60)
        loop.cycle()
    secrets = {"secret key": SECRET_KEY, "access key": ACCESS_KEY, "password": PASSWORD}
    with open_user_store(tmp_path, USER) as store:
        sides = {audit.side for audit in store.trade_audits()}
        assert sides == {"bid", "ask"}  # real orders went out, signed with the keys
    assert (tmp_path / "tradebot_alice.db-wal").exists()  # scanned while the loop holds it open
    assert scan_directory(tmp_path, secrets) == {}
    resources.close()  # the loop's database closes: checkpointed into the main file
    assert scan_directory(tmp_path, secrets) == {}
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert logged
    assert leaks(logged.encode(), secrets) == []
    printed = capsys.readouterr()
    assert leaks((printed.out + printed.err).encode(), secrets) == []
    assert log_file.stat().st_size > 0


def test_secret_scan_finds_a_planted_secret_in_every_encoding(tmp_path: Path) -> None:
    for index, (form, needle) in enumerate(encodings(SECRET_KEY).items()):
        (tmp_path / f"planted{index}.log").write_bytes(b"prefix " + needle + b" suffix")
        assert scan_directory(tmp_path, {"secret key": SECRET_KEY})[f"planted{index}.log"], form
        (tmp_path / f"planted{index}.log").unlink()
    token = base64.urlsafe_b64encode(json.dumps({"access_key": ACCESS_KEY, "nonce": "n"}).encode())
    assert leaks(b"Bearer x." + token, {"access key": ACCESS_KEY})


def test_passwords_are_stored_as_bcrypt_hashes_only(tmp_path: Path) -> None:
    create_user(tmp_path, USER, PASSWORD, NOW)
    with open_user_store(tmp_path, USER) as store:
        user = store.user(USER)
    assert user is not None
    assert user.password_hash is not None
    assert BCRYPT_HASH.fullmatch(user.password_hash)
    assert bcrypt.checkpw(PASSWORD.encode(), user.password_hash.encode())
    stored = yaml.safe_load((tmp_path / CREDENTIALS_FILE).read_text())["usernames"][USER]["password"]
    assert BCRYPT_HASH.fullmatch(stored)
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())
    assert load_credentials(tmp_path)["usernames"][USER]["password"] == stored
    assert scan_directory(tmp_path, {"password": PASSWORD}) == {}
    for name in (CREDENTIALS_FILE, COOKIE_KEY_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "password",
    ["a" * (BCRYPT_MAX_BYTES + 1), "가" * 25, "p" * 71 + "é"],  # 73, 75 and 73 bytes
    ids=["73-ascii", "75-korean", "73-accent"],
)
def test_password_over_72_bytes_is_refused_not_truncated(tmp_path: Path, password: str) -> None:
    with pytest.raises(SettingsError, match=f"password is longer than {BCRYPT_MAX_BYTES} bytes"):
        hash_password(password)
    with pytest.raises(SettingsError, match="longer than 72 bytes"):
        create_user(tmp_path, USER, password, NOW)
    assert not (tmp_path / CREDENTIALS_FILE).exists()
    truncated = hash_password(password.encode()[:BCRYPT_MAX_BYTES].decode("utf-8", errors="ignore"))
    assert check_password(password, truncated) is False  # what bcrypt alone would have accepted


def test_password_of_exactly_72_bytes_is_accepted(tmp_path: Path) -> None:
    password = "가" * 24  # 72 bytes
    assert check_password(password, hash_password(password))


def test_api_keys_are_stored_encrypted_with_a_private_key_file(tmp_path: Path) -> None:
    create_user(tmp_path, USER, None, NOW)
    save_keys(tmp_path, USER, UpbitKeys(ACCESS_KEY, SECRET_KEY), NOW)
    with open_user_store(tmp_path, USER) as store:
        keys = store.api_keys(USER)
    assert keys is not None
    assert ACCESS_KEY.encode() not in keys.access_key_ciphertext
    assert SECRET_KEY.encode() not in keys.secret_key_ciphertext
    assert stat.S_IMODE((tmp_path / KEY_FILE_NAME).stat().st_mode) == 0o600
    assert scan_directory(tmp_path, {"secret key": SECRET_KEY, "access key": ACCESS_KEY}) == {}


# --- isolation through the command table ----------------------------------------------------------


@dataclass
class RecordingLoop:
    """A loop that records what it is asked to do and never trades."""

    request: RunRequest
    paused: bool = False
    forced: list[tuple[Side, str, str]] = field(default_factory=list)
    market: str = "KRW-BTC"

    def start(self) -> None:
        pass

    def cycle(self) -> object:
        return None

    def guard(self) -> object:
        return None

    def force(self, side: Side, command_id: int, requested_by: str, reason: str) -> str:
        self.forced.append((side, requested_by, reason))
        return f"forced {side}"


class StoppedClock:
    def now(self) -> datetime:
        return NOW

    def monotonic(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        pass


@dataclass
class TwoUsers:
    home: Path
    runners: dict[str, UserRunner]
    loops: list[RecordingLoop]


@pytest.fixture
def two_users(tmp_path: Path) -> Iterator[TwoUsers]:
    loops: list[RecordingLoop] = []

    def factory(request: RunRequest, resources: ExitStack) -> Loop:
        loops.append(RecordingLoop(request))
        return loops[-1]

    settings = RunnerSettings(tmp_path, "http://unused", "security-engine", 1.0)
    with ExitStack() as stack:
        runners = {}
        for name in ("alice", "bob"):
            create_user(tmp_path, name, None, NOW)
            store = stack.enter_context(open_user_store(tmp_path, name))
            runners[name] = UserRunner(name, store, factory, StoppedClock(), settings, lambda line: None)
        yield TwoUsers(tmp_path, runners, loops)


def queue(
    home: Path, owner: str, kind: CommandKind, args: dict[str, object], requested_by: str = "mallory"
) -> None:
    request = CommandRequest(kind=kind, requested_by=requested_by, requested_at=NOW, args=args)
    with open_user_store(home, owner) as store, store.transaction() as transaction:
        transaction.submit_command(request)


def test_command_in_bobs_database_naming_alice_affects_only_bob(two_users: TwoUsers) -> None:
    crafted = {"user": "alice", "username": "alice", "home": "../", "database": "tradebot_alice.db"}
    queue(two_users.home, "bob", "start", crafted)
    for runner in two_users.runners.values():
        runner.tick()
    alice, bob = two_users.runners["alice"], two_users.runners["bob"]
    assert [loop.request.username for loop in two_users.loops] == ["bob"]
    assert bob.loop is not None
    assert (alice.loop, alice.desired.running) == (None, False)
    assert alice.store.recent_commands() == []
    assert bob.store.recent_commands()[0].status == "done"


def test_force_sell_in_bobs_database_naming_alice_sells_for_bob_only(two_users: TwoUsers) -> None:
    for name in ("alice", "bob"):
        queue(two_users.home, name, "start", {}, requested_by=name)
        two_users.runners[name].tick()
    queue(two_users.home, "bob", "force_sell", {"reason": "news", "user": "alice", "username": "alice"})
    for runner in two_users.runners.values():
        runner.tick()
    alice_loop, bob_loop = (runner.loop for runner in two_users.runners.values())
    assert isinstance(alice_loop, RecordingLoop)
    assert isinstance(bob_loop, RecordingLoop)
    assert alice_loop.forced == []
    assert bob_loop.forced == [("ask", "mallory", "news")]
    assert [command.kind for command in two_users.runners["alice"].store.recent_commands()] == ["start"]


def test_submit_command_through_bobs_store_cannot_target_alice(two_users: TwoUsers) -> None:
    request = CommandRequest(kind="stop", requested_by="bob", requested_at=NOW)
    with pytest.raises(SettingsError, match="no user alice"):
        submit_command(two_users.runners["bob"].store, "alice", request)
    assert two_users.runners["bob"].store.recent_commands() == []
    assert two_users.runners["alice"].store.recent_commands() == []


def test_each_runner_reads_only_its_own_users_database(two_users: TwoUsers) -> None:
    for name, runner in two_users.runners.items():
        assert runner.store.path == two_users.home / f"tradebot_{name}.db"
        assert runner.store.user(name) is not None
        assert runner.store.user("bob" if name == "alice" else "alice") is None


# --- loopback by default ---------------------------------------------------------------------------


def test_simulator_listens_on_loopback_by_default(simulator_factory: SimulatorFactory) -> None:
    assert SimulatorConfig.model_fields["host"].default == "127.0.0.1"
    assert build_config().host == "127.0.0.1"
    assert build_parser().parse_args(["simulator"]).host == "127.0.0.1"
    server = simulator_factory().server
    assert server._socket.getsockname()[0] == "127.0.0.1"
    assert server.base_url.startswith("http://127.0.0.1:")


def test_dashboard_command_line_binds_loopback_only() -> None:
    arguments = dashboard_command_line(8501)
    assert arguments[arguments.index("--server.address") + 1] == "127.0.0.1"
    assert arguments.count("--server.address") == 1
    assert "0.0.0.0" not in arguments  # noqa: S104 - asserting it is absent


def test_engine_command_line_opens_no_listening_address() -> None:
    arguments = engine_command_line("http://127.0.0.1:8555", 5.0)
    assert not any("address" in argument or "host" in argument for argument in arguments)
