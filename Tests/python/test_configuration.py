"""Configuration of ``omnistock serve``: flags, ``OMNISTOCK_*`` environment variables and the
optional JSON configuration file, in that order of precedence (issue 9)."""

from __future__ import annotations

import json
import os
import re
import subprocess

from conftest import server_binary


def _serve(tmp_path, args, env_extra=None, seconds=3):
    """Runs `serve` for a moment (or until it exits); returns (exit code or None, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMNISTOCK_")}
    env.update(env_extra or {})
    proc = subprocess.Popen([server_binary(), "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=str(tmp_path))
    try:
        out, err = proc.communicate(timeout=seconds)
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
        return None, out, err


def _config(tmp_path, settings):
    path = tmp_path / "omnistock.json"
    path.write_text(json.dumps(settings))
    return str(path)


def test_file_environment_and_flag_precedence(tmp_path):
    config = _config(tmp_path, {"port": 0, "data-dir": str(tmp_path / "from-file"), "metrics-port": 0,
                                "log-level": "warning", "checkpoint-interval-seconds": 60})
    # The file alone: its data directory, its metrics port, its log level (no info lines).
    code, out, err = _serve(tmp_path, ["--config", config])
    assert code is None, err
    assert "omnistock metrics on 127.0.0.1:" in out and "omnistock listening on 127.0.0.1:" in out
    assert (tmp_path / "from-file" / "wal").is_dir()
    assert " info " not in err
    # The environment wins over the file; a flag wins over both.
    code, out, err = _serve(tmp_path, ["--config", config, "--data-dir", str(tmp_path / "from-flag")],
                            {"OMNISTOCK_LOG_LEVEL": "info", "OMNISTOCK_DATA_DIR": str(tmp_path / "from-env")})
    assert code is None, err
    assert " info " in err
    assert (tmp_path / "from-flag" / "wal").is_dir() and not (tmp_path / "from-env").exists()
    # OMNISTOCK_CONFIG names the file too.
    code, out, err = _serve(tmp_path, [], {"OMNISTOCK_CONFIG": config})
    assert code is None and "omnistock metrics on" in out, err


def test_a_mistake_in_the_file_stops_the_start_with_the_reason(tmp_path):
    config = _config(tmp_path, {"prot": 9000, "data-dir": str(tmp_path / "d")})
    code, out, err = _serve(tmp_path, ["--config", config])
    assert code not in (None, 0)
    assert "unknown settings prot" in err and "listening" not in out
    broken = tmp_path / "broken.json"
    broken.write_text("{port: 1")
    code, out, err = _serve(tmp_path, ["--config", str(broken)])
    assert code not in (None, 0) and "not valid JSON" in err
    code, out, err = _serve(tmp_path, ["--config", str(tmp_path / "missing.json")])
    assert code not in (None, 0) and "missing.json" in err


def test_every_flag_names_its_environment_variable_and_default(tmp_path):
    code, out, err = _serve(tmp_path, ["--help"])
    assert code == 0
    # Option lines are indented two spaces; deeper lines continue a help text.
    names = [m.group(1) for m in (re.match(r"^  --([a-z0-9-]+)", line) for line in out.splitlines()) if m]
    assert len(names) > 20
    text = " ".join(out.split())
    for name in names:
        if name in ("help", "version"):
            continue
        assert "OMNISTOCK_" + name.upper().replace("-", "_") in text, f"--{name} has no environment variable in its help"
