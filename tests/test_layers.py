"""Layers point one way: ipc <- host <- mgmt, and the stats side knows no protocol."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, lazily or not."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def offenders(files: list[Path], forbidden: tuple[str, ...], root: Path = ROOT) -> list[str]:
    found = []
    for path in files:
        for name in sorted(imported_modules(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                found.append(f"{path.relative_to(root)} imports {name}")
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("ipc", ("host", "mgmt")), ("host", ("mgmt",))],
)
def test_lower_layers_import_nothing_from_higher_ones(
    package: str, forbidden: tuple[str, ...]
) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files
    assert offenders(files, forbidden) == []


def test_the_stats_side_sees_sessions_only_through_the_protocol_neutral_interface() -> None:
    stats_side = [ROOT / "mgmt" / f"{name}.py" for name in ("aggregator", "metrics", "telemetry")]
    assert offenders(stats_side, ("host.native", "host.gamestream")) == []


def test_the_capture_encode_process_is_shared_by_every_path() -> None:
    assert (ROOT / "host" / "pipeline" / "capture_process.py").is_file()
    assert not (ROOT / "host" / "native" / "capture_process.py").exists()


def test_the_checker_catches_a_lazy_import_inside_a_function(tmp_path: Path) -> None:
    # Without this the layer tests could pass vacuously.
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from mgmt.sessions import Sessions\n    return Sessions\n")
    assert offenders([probe], ("mgmt",), root=tmp_path) == [
        "probe.py imports mgmt.sessions",
        "probe.py imports mgmt.sessions.Sessions",
    ]
