"""The `eresident` command, run as a real process: MRZ checks, sanctions-list import, officials."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest
from sqlalchemy import create_engine, func, select

from eresident.identity.models import ScreeningEntity
from eresident.officials.models import Official, RoleGrant

pytestmark = pytest.mark.slow

ICAO_TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
PASSWORD = "a long passphrase 1"
CONSOLE_SCRIPT = Path(sys.executable).parent / "eresident"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ERESIDENT_")}
    env.update(ERESIDENT_LOG_JSON="false", ERESIDENT_LOG_LEVEL="WARNING", **extra)
    return env


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        command: list[str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*(command or [sys.executable, "-m", "eresident"]), *args], env=env or clean_env(),
                          cwd=cwd, capture_output=True, text=True, timeout=120)


class CliNode:
    """A node's settings as environment variables, pointing at a migrated database."""

    def __init__(self, tmp_path: Path, database_url: str):
        self.cwd = tmp_path
        self.database_url = database_url
        self.env = clean_env(ERESIDENT_DATA_DIR=str(tmp_path / "cli-data"),
                             ERESIDENT_DATABASE_URL=database_url, ERESIDENT_REGION="LJ")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return run(*args, env=self.env, cwd=self.cwd)

    def scalar(self, query):
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return conn.execute(query).scalar()
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def migrated_sqlite(tmp_path_factory) -> Path:
    """A fresh SQLite file migrated by `eresident migrate` itself, copied for each test."""
    root = tmp_path_factory.mktemp("cli-template")
    path = root / "var" / "eresident.db"
    env = clean_env(ERESIDENT_DATA_DIR=str(root / "data"), ERESIDENT_DATABASE_URL=f"sqlite:///{path}")
    r = run("migrate", env=env, cwd=root)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "migrated LJ"
    return path


@pytest.fixture
def cli(database_url, tmp_path, migrated_sqlite) -> CliNode:
    """On SQLite a copy of the file `eresident migrate` made; on PostgreSQL the suite's database."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "cli" / "eresident.db"
        path.parent.mkdir()
        shutil.copy(migrated_sqlite, path)
        database_url = f"sqlite:///{path}"
    return CliNode(tmp_path, database_url)


def test_migrate_creates_the_schema_and_is_idempotent(database_url, tmp_path):
    if database_url.startswith("sqlite"):
        database_url = f"sqlite:///{tmp_path / 'fresh' / 'eresident.db'}"  # the directory does not exist yet
    node = CliNode(tmp_path, database_url)
    for _ in range(2):
        r = node.run("migrate")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "migrated LJ"
    assert node.scalar(select(func.count()).select_from(Official)) == 0


def write_list(path: Path, *entities: dict | str) -> Path:
    path.write_text("\n".join(e if isinstance(e, str) else json.dumps(e, ensure_ascii=False)
                              for e in entities) + "\n", encoding="utf-8")
    return path


def person(entity_id: str, name: str, **props) -> dict:
    return {"id": entity_id, "schema": "Person", "caption": name,
            "properties": {"name": [name], **props}, "datasets": ["test"]}


def count_entities(cli: CliNode, list_name: str | None = None) -> int:
    query = select(func.count()).select_from(ScreeningEntity)
    if list_name:
        query = query.where(ScreeningEntity.list_name == list_name)
    return cli.scalar(query)


# --- mrz --------------------------------------------------------------------------------------------------------

def test_mrz_reads_the_icao_specimen():
    r = run("mrz", *ICAO_TD3, command=[str(CONSOLE_SCRIPT)])
    assert r.returncode == 0, r.stderr
    parsed = json.loads(r.stdout)
    assert parsed["valid"] is True and parsed["format"] == "TD3"
    assert parsed["document_number"] == "L898902C3"
    assert parsed["surname"] == "ERIKSSON" and parsed["given_names"] == "ANNA MARIA"
    assert parsed["birth_date"] == "1974-08-12" and parsed["expiry_date"] == "2012-04-15"
    assert parsed["lines"] == ICAO_TD3


def test_mrz_runs_as_a_module_too():
    r = run("mrz", *ICAO_TD3)
    assert r.returncode == 0 and json.loads(r.stdout)["nationality"] == "UTO"


@pytest.mark.parametrize("line2, field", [
    ("L898902C37UTO7408122F1204159ZE184226B<<<<<10", "document_number"),
    ("L898902C36UTO7408123F1204159ZE184226B<<<<<10", "birth_date"),
    ("L898902C36UTO7408122F1204158ZE184226B<<<<<10", "expiry_date"),
])
def test_mrz_with_a_broken_check_digit_exits_1_naming_the_check(line2, field):
    r = run("mrz", ICAO_TD3[0], line2)
    assert r.returncode == 1
    assert r.stdout == ""
    error = json.loads(r.stderr)
    assert error == {"valid": False, "field": field, "check": "check_digit", "message": error["message"]}
    assert "check digit" in error["message"]


def test_mrz_of_the_wrong_shape_exits_1():
    r = run("mrz", ICAO_TD3[0], ICAO_TD3[1][:-1])
    assert r.returncode == 1
    assert json.loads(r.stderr)["valid"] is False


def test_mrz_without_lines_is_a_usage_error():
    r = run("mrz")
    assert r.returncode == 2 and "Missing argument" in r.stderr


# --- screening import -------------------------------------------------------------------------------------------

def test_screening_import_loads_persons_from_ftm_json_lines(cli, tmp_path):
    path = write_list(tmp_path / "list.ftm.jsonl",
                      person("t-1", "Orvel Testperson", birthDate=["1961-11-02"], nationality=["dz"]),
                      "",
                      person("t-2", "Zara Otherperson", alias=["Z. Otherperson"]),
                      {"id": "t-3", "schema": "Company", "properties": {"name": ["Acme Ltd"]}})
    r = cli.run("screening", "import", str(path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "imported 2 entities into list 'default'"
    assert count_entities(cli, "default") == 2
    # importing again replaces the list, it does not add to it
    r = cli.run("screening", "import", str(path))
    assert r.returncode == 0 and count_entities(cli, "default") == 2


def test_screening_import_into_a_named_list(cli, tmp_path):
    path = write_list(tmp_path / "ofac.jsonl", person("o-1", "Ima Listed"))
    r = cli.run("screening", "import", str(path), "--list", "ofac")
    assert r.returncode == 0 and "list 'ofac'" in r.stdout
    assert count_entities(cli, "ofac") == 1 and count_entities(cli, "default") == 0


def test_screening_import_of_a_malformed_line_exits_1_naming_the_line_and_changes_nothing(cli, tmp_path):
    good = write_list(tmp_path / "good.jsonl", person("g-1", "First Person"), person("g-2", "Second Person"))
    assert cli.run("screening", "import", str(good)).returncode == 0
    bad = write_list(tmp_path / "bad.jsonl", person("b-1", "Third Person"), person("b-2", "Fourth Person"),
                     '{"id": "b-3", "schema": "Person", "properties": {"name": ["Broken"]')
    r = cli.run("screening", "import", str(bad))
    assert r.returncode == 1
    assert r.stderr.startswith("error: line 3: malformed JSON")
    assert "Traceback" not in r.stderr and "imported" not in r.stdout
    assert count_entities(cli, "default") == 2  # all or nothing: the old list is intact


def test_screening_import_of_an_entity_without_an_id_names_the_line(cli, tmp_path):
    bad = write_list(tmp_path / "noid.jsonl", person("n-1", "A Person"), {"schema": "Person", "properties": {}})
    r = cli.run("screening", "import", str(bad))
    assert r.returncode == 1 and r.stderr.startswith("error: line 2: entity has no 'id'")
    assert count_entities(cli) == 0


def test_screening_import_of_a_missing_file_exits_1(cli, tmp_path):
    r = cli.run("screening", "import", str(tmp_path / "nowhere.jsonl"))
    assert r.returncode == 1 and r.stderr.startswith("error:") and "nowhere.jsonl" in r.stderr
    assert "Traceback" not in r.stderr


def test_screening_import_of_a_duplicate_entity_id_names_the_line(cli, tmp_path):
    bad = write_list(tmp_path / "dup.jsonl", person("d-1", "A Person"), person("d-1", "Another Person"))
    r = cli.run("screening", "import", str(bad))
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "IntegrityError" not in r.stderr
    assert r.stderr.startswith("error: line 2:") and "d-1" in r.stderr
    assert count_entities(cli) == 0


# --- officials ----------------------------------------------------------------------------------------------------

def create(cli: CliNode, username: str, *roles: str, password: str = PASSWORD, name: str = "Test Official"):
    role_args = [arg for role in roles for arg in ("--role", role)]
    return cli.run("admin", "create-official", username, "--name", name, *role_args, "--password", password)


def roles_of(cli: CliNode, username: str) -> set[str]:
    engine = create_engine(cli.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(RoleGrant.role, RoleGrant.region).join(Official, Official.id == RoleGrant.official_id)
                                .where(Official.username == username)).all()
    finally:
        engine.dispose()
    return {f"{role}@{region}" for role, region in rows}


def test_create_official_prints_the_totp_enrolment_uri(cli):
    r = create(cli, "lj-alice", "reviewer")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("created lj-alice")
    uri = re.search(r"otpauth://totp/\S+", r.stdout).group(0)
    parts = urlsplit(uri)
    query = parse_qs(parts.query)
    assert "lj-alice" in parts.path and query["issuer"] == ["eresident LJ"]
    assert len(query["secret"][0]) >= 16
    assert roles_of(cli, "lj-alice") == {"reviewer@LJ"}
    assert PASSWORD not in r.stdout + r.stderr


def test_create_official_with_several_roles(cli):
    assert create(cli, "lj-bob", "admin", "auditor").returncode == 0
    assert roles_of(cli, "lj-bob") == {"admin@LJ", "auditor@LJ"}


def test_a_duplicate_official_exits_1_with_a_clear_message(cli):
    assert create(cli, "lj-alice", "reviewer").returncode == 0
    r = create(cli, "lj-alice", "approver")
    assert r.returncode == 1
    assert r.stderr.strip() == "error: An official named 'lj-alice' exists."
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert cli.scalar(select(func.count()).select_from(Official)) == 1
    assert roles_of(cli, "lj-alice") == {"reviewer@LJ"}


def test_create_official_refuses_a_short_password_and_an_unknown_role_and_writes_nothing(cli):
    r = create(cli, "lj-carol", "reviewer", password="short")
    assert r.returncode == 1 and r.stderr.startswith("error: Use at least 12 characters")
    r = create(cli, "lj-carol", "wizard")
    assert r.returncode == 1 and "Unknown role 'wizard'" in r.stderr
    assert cli.scalar(select(func.count()).select_from(Official)) == 0
    assert create(cli, "lj-carol", "reviewer").returncode == 0  # the name was not taken


def test_grant_role(cli):
    assert create(cli, "lj-alice", "reviewer").returncode == 0
    r = cli.run("admin", "grant-role", "lj-alice", "approver")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "lj-alice now holds approver in LJ"
    assert roles_of(cli, "lj-alice") == {"reviewer@LJ", "approver@LJ"}


def test_granting_a_role_twice_exits_1_with_a_clear_message(cli):
    assert create(cli, "lj-alice", "reviewer").returncode == 0
    r = cli.run("admin", "grant-role", "lj-alice", "reviewer")
    assert r.returncode == 1
    assert r.stderr.strip() == "error: lj-alice already holds reviewer in LJ."
    assert roles_of(cli, "lj-alice") == {"reviewer@LJ"}


def test_granting_to_an_unknown_official_or_an_unknown_role_exits_1(cli):
    r = cli.run("admin", "grant-role", "nobody", "reviewer")
    assert r.returncode == 1 and r.stderr.startswith("error:") and "official" in r.stderr.lower()
    assert create(cli, "lj-alice", "reviewer").returncode == 0
    r = cli.run("admin", "grant-role", "lj-alice", "emperor")
    assert r.returncode == 1 and "Unknown role 'emperor'" in r.stderr
    assert "Traceback" not in r.stderr


def test_totp_prints_the_officials_current_code(cli):
    r = create(cli, "lj-alice", "reviewer")
    secret = parse_qs(urlsplit(re.search(r"otpauth://totp/\S+", r.stdout).group(0)).query)["secret"][0]
    before = datetime.now(UTC)
    r = cli.run("admin", "totp", "lj-alice")
    after = datetime.now(UTC)
    assert r.returncode == 0, r.stderr
    code = r.stdout.strip()
    assert re.fullmatch(r"\d{6}", code)
    totp = pyotp.TOTP(secret)
    assert code in {totp.at(before), totp.at(after)}


def test_totp_for_an_unknown_official_exits_1_with_a_clear_message(cli):
    r = cli.run("admin", "totp", "nobody")
    assert r.returncode == 1
    assert r.stderr.startswith("error:") and "nobody" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""
