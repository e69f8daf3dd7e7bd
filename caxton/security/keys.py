"""CurveZMQ key files: writing them, reading them, and the folders they live in.

A key pair is two files in ZeroMQ's certificate format (the one ``zmq.auth``
reads and writes): ``NAME.key`` holds the public key and may be copied
anywhere; ``NAME.key_secret`` holds both keys, is written 0600 and is refused
when others can read it (as ssh refuses an unprotected private key). The
role a key is granted is stored with it, in the certificate's ``metadata``
section (``role = "operator"``), so that the folder of authorized public keys
alone says who may do what.

Three users of these files, all through this module:

* a node: its own secret key (``load_secret``) and the folder of the client
  keys it admits (``load_authorized``);
* a client: ``Keys``, its own secret key and the node's public key;
* a node-to-node link (when nodes form a cluster): a node's secret key and a
  folder of its peers' public keys, the same two loaders.

The parser reads the subset of ZPL these files use: sections at the left
margin, ``name = value`` lines indented under them, ``#`` comments.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zmq
import zmq.utils.z85

from caxton.security.roles import VIEWER, check_role

__all__ = [
    "NODE_KEY_NAME",
    "PUBLIC_SUFFIX",
    "SECRET_SUFFIX",
    "AuthorizedKey",
    "Certificate",
    "KeyFileError",
    "Keys",
    "generate",
    "load_authorized",
    "load_secret",
    "read_certificate",
]

PUBLIC_SUFFIX = ".key"
SECRET_SUFFIX = ".key_secret"
#: the name of the node's public key in a client's keys folder
NODE_KEY_NAME = "node"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_Z85_KEY_LENGTH = 40
_SECRET_BANNER = """#   ****  Generated on {when} by caxton  ****
#   ZeroMQ CURVE **Secret** Certificate
#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.

"""
_PUBLIC_BANNER = """#   ****  Generated on {when} by caxton  ****
#   ZeroMQ CURVE Public Certificate
#   Copy it where it is needed: a node's authorized keys folder (a client's
#   key), or a client's keys folder as node.key (the node's key).

"""


class KeyFileError(ValueError):
    """A key file or folder is missing, malformed or unsafe; the message is one line."""


@dataclass(frozen=True)
class Certificate:
    """One key file: a public key, the secret key when it is a secret file, metadata."""

    public: bytes  # Z85, 40 characters
    secret: bytes | None = field(default=None, repr=False)
    metadata: Mapping[str, str] = field(default_factory=dict)
    path: Path | None = None

    @property
    def role(self) -> str | None:
        return self.metadata.get("role")


@dataclass(frozen=True)
class AuthorizedKey:
    """A client key a node admits, with the role granted to it."""

    name: str
    role: str
    public: bytes  # Z85
    path: Path


@dataclass(frozen=True)
class Keys:
    """What a client connects to a secured node with: its key pair and the node's key.

    Build it with ``Keys.load(secret_file, node_key_file)``, or
    ``Keys.from_folder(folder)`` for a folder holding the node's public key as
    ``node.key`` and exactly one secret key of the client's. ``repr`` never
    shows the secret key.
    """

    public: bytes  # Z85 public key of the client
    secret: bytes = field(repr=False)  # Z85 secret key of the client
    node: bytes  # Z85 public key of the node

    @classmethod
    def load(cls, secret_key: str | os.PathLike[str],
             node_key: str | os.PathLike[str]) -> Keys:
        mine = load_secret(Path(secret_key).expanduser())
        assert mine.secret is not None
        node = read_certificate(Path(node_key).expanduser())
        return cls(public=mine.public, secret=mine.secret, node=node.public)

    @classmethod
    def from_folder(cls, folder: str | os.PathLike[str]) -> Keys:
        path = Path(folder).expanduser()
        if not path.is_dir():
            raise KeyFileError(f"{path}: no such folder")
        node_key = path / f"{NODE_KEY_NAME}{PUBLIC_SUFFIX}"
        if not node_key.is_file():
            raise KeyFileError(f"{path}: no {node_key.name} (the public key of the node to "
                               "connect to)")
        secrets = sorted(p for p in path.glob(f"*{SECRET_SUFFIX}")
                         if p.name != f"{NODE_KEY_NAME}{SECRET_SUFFIX}")
        if not secrets:
            raise KeyFileError(f"{path}: no client secret key (*{SECRET_SUFFIX})")
        if len(secrets) > 1:
            names = ", ".join(p.name for p in secrets)
            raise KeyFileError(f"{path}: several secret keys ({names}); name one: "
                               f"SECRET_FILE{os.pathsep}NODE_KEY_FILE")
        return cls.load(secrets[0], node_key)

    @classmethod
    def parse(cls, text: str) -> Keys:
        """A keys folder, or ``SECRET_FILE:NODE_KEY_FILE`` (the form of ``--keys`` and
        ``CAXTON_KEYS``)."""
        if not text:
            raise KeyFileError("empty keys path")
        if os.path.isdir(os.path.expanduser(text)) or os.pathsep not in text:
            return cls.from_folder(text)
        secret, _, node = text.rpartition(os.pathsep)
        return cls.load(secret, node)

    @classmethod
    def resolve(cls, value: Any) -> Keys | None:
        """``keys=`` of ``caxton.connect``: ``None``, ``Keys``, a folder or ``parse``'s form,
        or a ``(secret_file, node_key_file)`` pair."""
        if value is None or isinstance(value, Keys):
            return value
        if isinstance(value, tuple) and len(value) == 2:
            return cls.load(value[0], value[1])
        if isinstance(value, str | os.PathLike):
            return cls.parse(os.fspath(value))
        raise KeyFileError(
            f"keys must be caxton.Keys, a folder or a (secret, node key) pair, not "
            f"{type(value).__name__}")


# -- reading -----------------------------------------------------------------------------


def read_certificate(path: str | os.PathLike[str]) -> Certificate:
    """Read a public or secret key file (``KeyFileError`` if it is not a good one)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise KeyFileError(f"{path}: a folder, not a key file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyFileError(f"{path}: {getattr(exc, 'strerror', None) or exc}") from None
    sections: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        # whole-line comments only: '#' is a Z85 character
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = sections.setdefault(line.strip(), {})
            continue
        name, equals, value = line.strip().partition("=")
        if current is None or not equals:
            raise KeyFileError(f"{path}:{number}: not a key file line: {line.strip()[:40]!r}")
        current[name.strip()] = value.strip().strip("\"'")
    curve = sections.get("curve", {})
    public = _z85_key(path, curve.get("public-key"), "public-key")
    secret = None
    if "secret-key" in curve:
        secret = _z85_key(path, curve["secret-key"], "secret-key")
        if zmq.curve_public(secret) != public:
            raise KeyFileError(f"{path}: the secret key does not match the public key")
    return Certificate(public=public, secret=secret, metadata=dict(sections.get("metadata", {})),
                       path=path)


def _z85_key(path: Path, value: str | None, what: str) -> bytes:
    if value is None:
        raise KeyFileError(f"{path}: no {what} (not a CurveZMQ key file)")
    key = value.encode("ascii", "replace")
    try:
        valid = len(key) == _Z85_KEY_LENGTH and len(zmq.utils.z85.decode(key)) == 32
    except (ValueError, KeyError, IndexError, OverflowError):
        valid = False
    if not valid:
        raise KeyFileError(f"{path}: {what} is not a 40-character Z85 key")
    return key


def load_secret(path: str | os.PathLike[str]) -> Certificate:
    """A secret key file, refused when group or others may read it."""
    path = Path(path)
    cert = read_certificate(path)
    if cert.secret is None:
        raise KeyFileError(f"{path}: holds no secret key (a public key file?)")
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(f"{path}: secret key readable by others (mode {mode:04o}); "
                           f"run: chmod 600 {path}")
    return cert


def load_authorized(folder: str | os.PathLike[str], *,
                    strict: bool = True) -> tuple[dict[bytes, AuthorizedKey], list[str]]:
    """The public keys in ``folder`` (``*.key``) by Z85 key, and the problems found.

    Each key needs a role. ``strict`` (a node starting): the first problem
    raises ``KeyFileError``. Otherwise (a reload while the node runs) a bad
    file is left out and named in the problems, and the others still count.
    A folder or key file that others may write is always refused: whoever
    can write there can grant themselves any role.
    """
    path = Path(folder)
    if not path.is_dir():
        raise KeyFileError(f"{path}: no such folder")
    _refuse_writable_by_others(path)
    keys: dict[bytes, AuthorizedKey] = {}
    problems: list[str] = []
    for file in sorted(path.glob(f"*{PUBLIC_SUFFIX}")):
        try:
            _refuse_writable_by_others(file)
            cert = read_certificate(file)
            if cert.role is None:
                raise KeyFileError(f"{file}: no role in its metadata (role = admin, operator "
                                   "or viewer)")
            try:
                role = check_role(cert.role)
            except ValueError as exc:
                raise KeyFileError(f"{file}: {exc}") from None
            other = keys.get(cert.public)
            if other is not None:
                raise KeyFileError(f"{file}: the same key as {other.path.name}")
        except KeyFileError as exc:
            if strict:
                raise
            problems.append(str(exc))
            continue
        keys[cert.public] = AuthorizedKey(name=file.name[:-len(PUBLIC_SUFFIX)], role=role,
                                          public=cert.public, path=file)
    return keys, problems


def _refuse_writable_by_others(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o022:
        raise KeyFileError(f"{path}: writable by group or others (mode {mode:04o}); "
                           f"run: chmod go-w {path}")


# -- writing -----------------------------------------------------------------------------


def generate(folder: str | os.PathLike[str], name: str,
             role: str = VIEWER) -> tuple[Path, Path]:
    """Write a new key pair ``NAME.key`` and ``NAME.key_secret`` (0600) into ``folder``.

    The folder is created 0700 when missing. Existing files are never
    overwritten: replacing a key by accident locks its holder out.
    Returns (public file, secret file).
    """
    if not _NAME.fullmatch(name) or name.endswith((PUBLIC_SUFFIX, SECRET_SUFFIX)):
        raise KeyFileError(f"bad key name {name!r}: letters, digits, '.', '_' and '-', "
                           "at most 64, starting with a letter or digit")
    try:
        role = check_role(role)
    except ValueError as exc:
        raise KeyFileError(str(exc)) from None
    out = Path(folder)
    try:
        out.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"{out}: {exc.strerror or exc}") from None
    public_file = out / f"{name}{PUBLIC_SUFFIX}"
    secret_file = out / f"{name}{SECRET_SUFFIX}"
    for existing in (public_file, secret_file):
        if existing.exists():
            raise KeyFileError(f"{existing} exists; choose another --name or move it away")
    public, secret = zmq.curve_keypair()
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    body = f'metadata\n    role = "{role}"\ncurve\n    public-key = "{public.decode()}"\n'
    _write_new(secret_file, _SECRET_BANNER.format(when=when) + body
               + f'    secret-key = "{secret.decode()}"\n', 0o600)
    try:
        _write_new(public_file, _PUBLIC_BANNER.format(when=when) + body, 0o644)
    except BaseException:
        with contextlib.suppress(OSError):
            secret_file.unlink()
        raise
    return public_file, secret_file


def _write_new(path: Path, text: str, mode: int) -> None:
    """Create ``path`` with ``mode`` from the start (never wider for an instant)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"{path} exists; choose another --name or move it away") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        os.fchmod(handle.fileno(), mode)  # exactly ``mode``, whatever the umask
        handle.write(text)
