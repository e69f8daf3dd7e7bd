"""The README works top to bottom after the demo: every command of "Using it" and
"Operating a node", as written, against the node the demo left running."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, free_port

README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    start = README.index(f"## {title}")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_readme_commands_are_one_per_line() -> None:
    for line in (ln for b in _blocks(_section("Using it"), "sh") for ln in b.splitlines()):
        assert " | " not in line or "curl" in line, f"a shell pipe in {line!r}"


@pytest.mark.timeout(240)
def test_readme_top_to_bottom_after_the_demo(tmp_path: Path) -> None:
    address, http = f"tcp://127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}"
               f"{os.environ.get('PATH', '')}", COLUMNS="160")
    from caxton.launch import child_env

    env["PYTHONPATH"] = child_env()["PYTHONPATH"]
    demo = subprocess.Popen([sys.executable, "-m", "caxton.demo", "--data-dir",
                             str(tmp_path / "data"), "--listen", address, "--http", http],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    assert demo.stdout is not None
    try:
        seen = []
        for line in demo.stdout:
            seen.append(line)
            if "Ctrl-C stops it" in line:
                break
        assert any("Dashboard: http://" in line for line in seen), "".join(seen)
        python = _blocks(_section("Using it"), "python")[0].replace(
            "caxton.connect()", f"caxton.connect({address!r})")
        done = subprocess.run([sys.executable, "-c", python], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["b'1'", "0"]
        commands = [line for section in ("Using it", "Operating a node")
                    for block in _blocks(_section(section), "sh")
                    for line in block.splitlines() if line.strip()]
        assert len(commands) >= 12
        for command in commands:
            command = command.replace("caxton ", f"caxton --node {address} ", 1) \
                .replace("127.0.0.1:7780", http)
            done = subprocess.run(["bash", "-c", command], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, f"{command}:\n{done.stdout}{done.stderr}"
            if command.startswith("curl"):
                assert 'caxton_agent_messages_total{agent="echo",outcome="ok"}' in done.stdout
            if " top " in command:
                assert "greeter" not in done.stdout and "counter" in done.stdout
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(60)
