"""`eresident federation …` in-process: trust from a file, confirmation, revocation, key rotation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eresident.cli import app
from eresident.config import Settings
from eresident.federation import trust
from eresident.federation.keys import node_keys
from eresident.kit.clock import Clock


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    return {"ERESIDENT_REGION": "LJ", "ERESIDENT_DATA_DIR": str(tmp_path / "LJ"),
            "ERESIDENT_DATABASE_URL": f"sqlite:///{tmp_path / 'LJ' / 'eresident.db'}",
            "ERESIDENT_BASE_URL": "http://lj.test"}


@pytest.fixture
def tf_document(tmp_path) -> tuple[str, str]:
    """A TF node-keys document as an operator would carry it over (and its key's kid)."""
    document = node_keys(Settings(region="TF", data_dir=tmp_path / "TF", base_url="http://tf.test")).document(
        Clock().now())
    path = tmp_path / "tf-node-keys.json"
    path.write_text(json.dumps(document))
    return str(path), document["keys"][0]["kid"]


def run(env, *args, input: str | None = None):
    return CliRunner().invoke(app, ["federation", *args], env=env, input=input)


def test_trust_add_from_file_asks_before_trusting(env, tf_document):
    path, kid = tf_document
    refused = run(env, "trust", "add", "--from-file", path, input="n\n")
    assert refused.exit_code == 1 and "SHA-256" in refused.output and "nothing changed" in refused.output
    assert run(env, "trust", "show").output.startswith("no peers")

    accepted = run(env, "trust", "add", "--from-file", path, input="y\n")
    assert accepted.exit_code == 0, accepted.output
    shown = run(env, "trust", "show")
    assert "TF Sichuan Tianfu New Area http://tf.test" in shown.output and kid in shown.output

    assert run(env, "trust", "revoke-key", kid).exit_code == 0
    assert "REVOKED" in run(env, "trust", "show").output
    stored = json.loads(run(env, "trust", "show", "--json").output)
    assert stored["peers"][0]["keys"][0]["revoked"] is True
    # Refreshing from the same document does not bring the key back.
    assert run(env, "trust", "add", "--from-file", path, "--yes").exit_code == 0
    assert trust.load_trust(Settings(region="LJ", data_dir=Path(env["ERESIDENT_DATA_DIR"]))).key(kid).revoked


def test_trust_errors_are_reported_not_raised(env, tmp_path, tf_document):
    assert run(env, "trust", "revoke-key", "nope").exit_code == 1
    assert run(env, "trust", "add").exit_code == 2
    own = tmp_path / "own.json"
    own.write_text(json.dumps({**json.loads(open(tf_document[0]).read()), "region": "LJ"}))
    result = run(env, "trust", "add", "--from-file", str(own), "--yes")
    assert result.exit_code == 1 and "own region" in result.output
    missing = run(env, "trust", "add", "--from-url", "http://127.0.0.1:9", "--yes")
    assert missing.exit_code == 1 and "error:" in missing.output


def test_keys_show_and_add_next(env):
    shown = run(env, "keys", "show")
    assert shown.exit_code == 0 and "(signing now)" in shown.output and "LJ-fed-" in shown.output
    added = run(env, "keys", "add-next", "--valid-from", "2099-01-01T00:00:00Z")
    assert added.exit_code == 0 and "2099-01-01T00:00:00Z" in added.output
    assert run(env, "keys", "show").output.count("LJ-fed-") == 2
    assert run(env, "keys", "add-next", "--valid-from", "soon").exit_code == 2
