"""Run `punktfunk stats` as a real subprocess and check its failure contract."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

from tests.support.serve import Serve


def clean_env(**extra: str) -> dict[str, str]:
    """The test's environment without any PUNKTFUNK_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUNKTFUNK_")}
    return {**env, **extra}


def run_stats(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "host", "stats", *args],
        capture_output=True,
        text=True,
        env=clean_env() if env is None else env,
        timeout=timeout,
        check=False,
    )


class Cli:
    """`punktfunk stats ...` against the package's serve: --url and --token by default."""

    def __init__(self, serve: Serve) -> None:
        self.serve = serve

    def argv(self, *args: str, url: bool = True, token: bool = True) -> list[str]:
        return [
            *args,
            *(["--url", self.serve.url] if url else []),
            *(["--token", self.serve.token] if token else []),
        ]

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(PUNKTFUNK_CONFIG_DIR=str(self.serve.config), **extra)

    def __call__(
        self, *args: str, url: bool = True, token: bool = True, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        env = kwargs.pop("env", None) or self.env()
        return run_stats(*self.argv(*args, url=url, token=token), env=env, **kwargs)

    def ok(self, *args: str, **kwargs: Any) -> str:
        result = self(*args, **kwargs)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result.stdout


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The failure contract: non-zero exit, exactly one stderr line, no traceback."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stderr.endswith("\n")
    return lines[0]
