"""Key files: ``caxton keys``, the formats zmq.auth reads, and what is refused."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import zmq.auth

import caxton
from caxton.launch import child_env
from caxton.security.keys import KeyFileError, Keys, load_authorized, load_secret, read_certificate
from caxton.security.roles import allowed_operations
from tests.helpers import ROOT


def _caxton(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "caxton.cli.main", *args], capture_output=True,
                          text=True, env=env or child_env(), cwd=ROOT, timeout=60,
                          stdin=subprocess.DEVNULL)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_generate_then_list_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    result = _caxton("--output", "json", "keys", "generate", "--out", str(out), "--name",
                     "alice", "--role", "operator")
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)
    public, secret = Path(written["public"]), Path(written["secret"])
    assert (public, secret) == (out / "alice.key", out / "alice.key_secret")
    assert _mode(out) == 0o700 and _mode(secret) == 0o600 and _mode(public) == 0o644
    # ZeroMQ's own reader agrees with ours on both files
    z_public, z_none = zmq.auth.load_certificate(public)
    assert z_none is None
    z_public2, z_secret = zmq.auth.load_certificate(secret)
    assert z_secret is not None
    assert z_public == z_public2 == read_certificate(public).public
    assert zmq.curve_public(z_secret) == z_public
    assert read_certificate(public).role == read_certificate(secret).role == "operator"
    listed = _caxton("--output", "json", "keys", "list", str(out))
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == {
        "keys": [{"name": "alice", "role": "operator", "public_key": z_public.decode()}],
        "problems": []}
    text = _caxton("keys", "list", str(out)).stdout.split()
    assert text == ["alice", "operator", z_public.decode()]


def test_generate_defaults_to_the_least_role_and_never_overwrites(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    assert _caxton("keys", "generate", "--out", str(out)).returncode == 0
    assert read_certificate(out / "client.key").role == "viewer"
    before = (out / "client.key_secret").read_bytes()
    again = _caxton("keys", "generate", "--out", str(out))
    assert again.returncode == 1
    assert again.stderr.count("\n") == 1 and "exists" in again.stderr
    assert (out / "client.key_secret").read_bytes() == before


@pytest.mark.parametrize(("args", "code", "words"), [
    (["--role", "root"], 2, "invalid choice"),
    (["--name", "../escape"], 1, "bad key name"),
    (["--name", ""], 1, "bad key name"),
])
def test_generate_refuses_bad_input_in_one_line(tmp_path: Path, args: list[str], code: int,
                                                words: str) -> None:
    result = _caxton("keys", "generate", "--out", str(tmp_path / "k"), *args)
    assert result.returncode == code
    assert result.stderr.count("\n") == 1 and words in result.stderr
    assert "Traceback" not in result.stderr


def test_list_names_the_files_a_node_would_leave_out(tmp_path: Path) -> None:
    out = tmp_path / "keys"
    assert _caxton("keys", "generate", "--out", str(out), "--name", "ok").returncode == 0
    (out / "broken.key").write_text("metadata\n    role = admin\ncurve\n    public-key = \"x\"\n")
    result = _caxton("keys", "list", str(out))
    assert result.returncode == 1
    assert result.stdout.split()[:2] == ["ok", "viewer"]
    assert "broken.key: public-key is not a 40-character Z85 key" in result.stderr
    with pytest.raises(KeyFileError, match=r"broken\.key"):
        load_authorized(out, strict=True)


def test_the_cli_reads_keys_from_the_option_or_the_environment(tmp_path: Path) -> None:
    for env in ({"CAXTON_KEYS": str(tmp_path / "nowhere")}, {}):
        args = [] if env else ["--keys", str(tmp_path / "nowhere")]
        result = _caxton(*args, "agents", "list", env=dict(child_env(), **env))
        assert result.returncode == 1
        assert result.stderr.strip() == f"caxton: keys: {tmp_path / 'nowhere'}: no such folder"


def test_a_keys_folder_names_its_secret_and_the_node_key(tmp_path: Path) -> None:
    from caxton.security.keys import generate

    generate(tmp_path / "node", "node")
    folder = tmp_path / "me"
    with pytest.raises(KeyFileError, match="no such folder"):
        Keys.from_folder(folder)
    generate(folder, "me", "admin")
    with pytest.raises(KeyFileError, match=r"no node\.key"):
        Keys.from_folder(folder)
    (folder / "node.key").write_bytes((tmp_path / "node" / "node.key").read_bytes())
    keys = Keys.from_folder(folder)
    assert keys.node == read_certificate(tmp_path / "node" / "node.key").public
    assert keys.secret not in repr(keys).encode()
    pair = f"{folder / 'me.key_secret'}{os.pathsep}{folder / 'node.key'}"
    assert Keys.parse(pair) == keys == Keys.resolve((folder / "me.key_secret",
                                                     folder / "node.key"))
    generate(folder, "other", "viewer")
    with pytest.raises(KeyFileError, match="several secret keys"):
        Keys.from_folder(folder)
    (folder / "me.key_secret").chmod(0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_secret(folder / "me.key_secret")
    with pytest.raises(caxton.InvalidRequest, match=r"keys: .*chmod 600"):
        caxton.connect(keys=(folder / "me.key_secret", folder / "node.key"))


def test_a_secret_that_does_not_match_its_public_key_is_refused(tmp_path: Path) -> None:
    from caxton.security.keys import generate

    _, secret = generate(tmp_path, "a")
    other, _ = zmq.curve_keypair()
    text = secret.read_text()
    public = read_certificate(secret).public.decode()
    secret.write_text(text.replace(public, other.decode()))
    with pytest.raises(KeyFileError, match="does not match"):
        read_certificate(secret)


def test_roles_nest_and_refuse_what_they_do_not_name() -> None:
    viewer, operator = allowed_operations("viewer"), allowed_operations("operator")
    assert allowed_operations("admin") is None
    assert viewer is not None and operator is not None
    assert {"status", "list", "ping"} <= viewer < operator
    assert {"send", "call", "send_batch", "monitor", "dead_letters"} <= operator - viewer
    # what changes which agents exist or runs code is an admin's alone
    admin_only = {"spawn", "deploy", "stop", "restart", "remove", "snapshot"}
    assert not admin_only & operator
    assert "an-operation-added-later" not in operator  # an admin's until decided
    with pytest.raises(ValueError, match="unknown role"):
        allowed_operations("root")
