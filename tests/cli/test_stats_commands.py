"""`punktfunk stats` end to end (a real CLI process against a real `serve --demo`), and
what Ctrl-C does during `start --for`."""

from __future__ import annotations

import csv
import io
import json
import os
import select
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mgmt.stats_cli import StopRequest
from tests.support.cli import Cli, CtrlCAt, Relay, clean_env, one_error_line, run_stats
from tests.support.serve import Serve

PIPELINE = ["capture", "submit", "encode", "handoff", "send"]
API = "/api/v1"


def stage_rows(show_output: str) -> list[str]:
    """The stage column of the table under the `stage  p50 ms ...` header."""
    lines = show_output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("stage "))
    names = []
    for line in lines[start + 1 :]:
        if not line.strip() or line.startswith("p50"):
            break
        names.append(line.split("  ")[0].strip())
    return names


def test_status_when_idle_says_not_recording(cli: Cli) -> None:
    assert cli.ok("status").startswith("not recording")
    status = json.loads(cli.ok("status", "--json"))
    assert status["armed"] is False
    assert status["sample_count"] == 0


def test_start_status_stop_saves_a_recording(cli: Cli, serve: Serve) -> None:
    assert cli.ok("start").startswith("recording since ")
    assert cli.ok("start").startswith("already recording since ")  # idempotent, as the API
    serve.wait_for_samples(1)

    human = cli.ok("status")
    assert human.splitlines()[0].split() == ["recording", "yes"]
    assert "kind       native" in human
    status = json.loads(cli.ok("status", "--json"))
    assert status["armed"] is True
    assert status["sample_count"] >= 1

    stopped = cli.ok("stop")
    assert stopped.startswith("saved ")
    saved_id = stopped.split()[1]
    assert f"id         {saved_id}" in stopped
    assert saved_id in cli.ok("ls")


def test_stop_when_nothing_is_recording_says_so_and_succeeds(cli: Cli) -> None:
    assert cli.ok("stop").strip() == "nothing was recording"
    assert json.loads(cli.ok("stop", "--json")) is None


def test_stop_json_is_the_saved_meta(cli: Cli) -> None:
    cli.ok("start")
    meta = json.loads(cli.ok("stop", "--json"))
    assert set(meta) >= {"id", "duration_ms", "sample_count", "kind", "codec"}
    assert meta["id"] in json.dumps(json.loads(cli.ok("ls", "--json")))


def test_start_for_records_that_long_then_prints_the_summary(cli: Cli) -> None:
    began = time.monotonic()
    result = cli("start", "--for", "3")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - began >= 3
    assert "\r" not in result.stderr  # no carriage returns when stderr is not a terminal
    assert result.stdout.startswith("saved ")
    assert stage_rows(result.stdout)[:5] == PIPELINE
    assert "frames dropped" in result.stdout
    assert cli.ok("status").startswith("not recording")


def test_start_for_json_prints_only_the_saved_meta(cli: Cli, serve: Serve) -> None:
    meta = json.loads(cli.ok("start", "--for", "1", "--json"))
    saved = serve.api("GET", f"/stats/recordings/{meta['id']}").json()
    assert meta == saved["meta"]
    assert meta["sample_count"] == len(saved["samples"])
    assert meta["duration_ms"] >= 1000  # stopped only after --for had passed
    assert not serve.api("GET", "/stats/capture/status").json()["armed"]


def test_start_for_on_a_terminal_redraws_one_progress_line(cli: Cli) -> None:
    # stderr is a pseudo-terminal, as when an operator runs it in a shell.
    leader, follower = os.openpty()
    proc = cli.spawn("start", "--for", "3", stderr=follower)
    os.close(follower)
    seen = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 30)
        assert ready, "no progress on the terminal within 30 s"
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # EIO: the process closed its end
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    text = seen.decode()
    assert text.count("\r\x1b[K") >= 3  # redrawn in place, then cleared
    assert "recording " in text
    assert " of 3s, " in text
    assert "sample" in text
    assert "\n" not in text.replace("\r\n", "")  # never a new line per update
    assert out.decode().startswith("saved ")


def ctrl_c_here() -> None:
    """SIGINT to this (the main) thread; its Python handler runs before this returns."""
    signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGINT)


def test_a_first_ctrl_c_asks_to_stop_and_ends_the_wait_at_once() -> None:
    with StopRequest() as stop:
        assert not stop.requested()
        # From another thread, so it lands before or during the wait: both must end it.
        sender = threading.Thread(target=ctrl_c_here)
        began = time.monotonic()
        sender.start()
        assert stop.wait(120)
        waited_s = time.monotonic() - began
        sender.join()
        assert stop.requested()
    assert waited_s < 60  # woken by the signal, not by the end of the 120 s


def test_a_second_ctrl_c_gives_up_and_leaving_restores_the_handler() -> None:
    previous = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        ctrl_c_here()
        assert stop.requested()
        with pytest.raises(KeyboardInterrupt):
            ctrl_c_here()
    assert signal.getsignal(signal.SIGINT) is previous


def recording_ids(serve: Serve) -> set[str]:
    return {m["id"] for m in serve.api("GET", "/stats/recordings").json()}


def start_for_interrupted(cli: Cli, relay: Relay, ctrl_c: CtrlCAt) -> tuple[int, str, str]:
    """`start --for 120` through `relay`, with Ctrl-C where `ctrl_c` says; (exit code,
    stdout, stderr)."""
    relay.before_answer = ctrl_c
    proc = cli.spawn("start", "--for", "120", url=relay.url, text=True)
    ctrl_c.launched(proc)
    out, err = proc.communicate(timeout=60)
    assert ctrl_c.sent.is_set(), f"the CLI never sent {ctrl_c.at}: {relay.requests()}"
    assert "Traceback" not in err
    return proc.returncode, out, err


def test_ctrl_c_while_waiting_stops_saves_and_exits_130(
    cli: Cli, serve: Serve, relay: Relay
) -> None:
    before = recording_ids(serve)
    # The second status request is the wait's first poll: the capture runs, the CLI waits.
    ctrl_c = CtrlCAt("GET", f"{API}/stats/capture/status", nth=2)
    code, out, err = start_for_interrupted(cli, relay, ctrl_c)
    assert code == 130, err
    assert "interrupted: stopping and saving the capture" in err
    assert out.startswith("saved ")
    assert out.split()[1] in recording_ids(serve) - before
    assert not serve.api("GET", "/stats/capture/status").json()["armed"]


def test_ctrl_c_as_the_capture_starts_still_stops_and_saves_it(
    cli: Cli, serve: Serve, relay: Relay
) -> None:
    # Serve has started the capture; the CLI has not had the answer yet.
    before = recording_ids(serve)
    code, out, err = start_for_interrupted(
        cli, relay, CtrlCAt("POST", f"{API}/stats/capture/start")
    )
    assert code == 130, err
    assert not serve.api("GET", "/stats/capture/status").json()["armed"], "left recording"
    assert out.startswith("saved ")
    assert out.split()[1] in recording_ids(serve) - before
    assert relay.requests()[-2:] == [
        ("POST", f"{API}/stats/capture/stop"),
        ("GET", f"{API}/stats/recordings/{out.split()[1]}/summary"),
    ]


def test_ctrl_c_before_the_capture_starts_starts_nothing(
    cli: Cli, serve: Serve, relay: Relay
) -> None:
    before = recording_ids(serve)
    ctrl_c = CtrlCAt("GET", f"{API}/stats/capture/status")  # the check for a running one
    code, out, err = start_for_interrupted(cli, relay, ctrl_c)
    assert code == 130
    assert err == "punktfunk stats start: interrupted\n"
    assert out == ""
    assert relay.requests() == [("GET", f"{API}/stats/capture/status")]
    assert not serve.api("GET", "/stats/capture/status").json()["armed"]
    assert recording_ids(serve) == before


def test_start_for_refuses_to_take_over_a_running_capture(cli: Cli, serve: Serve) -> None:
    serve.api("POST", "/stats/capture/start")
    result = cli("start", "--for", "3")
    assert result.returncode == 1
    assert "already running" in result.stderr
    assert "punktfunk stats stop" in result.stderr
    assert serve.api("GET", "/stats/capture/status").json()["armed"]  # left alone


def test_ls_lists_recordings_newest_first_with_local_times(
    cli: Cli, serve: Serve, recording: dict[str, Any]
) -> None:
    out = cli.ok("ls")
    header, *rows = out.splitlines()
    assert header.split("  ")[0] == "started (local)"
    for column in ("kind", "mode", "codec", "encoder", "duration", "samples", "id"):
        assert column in header
    meta = recording["meta"]
    row = next(r for r in rows if r.endswith(meta["id"]))
    expected_time = time.strftime(
        "%Y-%m-%d %H:%M:%S", time.localtime(meta["started_unix_ms"] // 1000)
    )
    assert row.startswith(expected_time)
    assert "native  1280x720@60  h264" in row
    listed = serve.api("GET", "/stats/recordings").json()  # newest first
    assert [r.split()[-1] for r in rows] == [m["id"] for m in listed]
    assert json.loads(cli.ok("ls", "--json")) == listed


def test_show_summarises_stages_in_pipeline_order(
    cli: Cli, serve: Serve, recording: dict[str, Any]
) -> None:
    meta = recording["meta"]
    out = cli.ok("show", meta["id"])
    for key, value in [
        ("id", meta["id"]),
        ("kind", "native"),
        ("mode", "1280x720@60"),
        ("codec", "h264"),
        ("encoder", meta["encoder"]),
        ("client", "demo"),
        ("samples", str(meta["sample_count"])),
        ("truncated", "no"),
    ]:
        assert any(line.split(None, 1) == [key, value] for line in out.splitlines()), key
    header = next(line for line in out.splitlines() if line.startswith("stage "))
    assert [h.strip() for h in header.split("  ") if h] == [
        "stage",
        "p50 ms",
        "p99 ms",
        "max p99 ms",
    ]
    assert stage_rows(out) == [*PIPELINE, "host total"]
    assert "median over the" in out
    for label in ("fps", "bitrate", "frames dropped", "packets dropped", "FEC recovered"):
        assert any(line.startswith(label) for line in out.splitlines()), label
    summary = serve.api("GET", f"/stats/recordings/{meta['id']}/summary").json()
    assert json.loads(cli.ok("show", meta["id"], "--json")) == summary
    assert summary["meta"] == meta


def test_export_json_parses_back_to_the_recording(cli: Cli, recording: dict[str, Any]) -> None:
    assert json.loads(cli.ok("export", recording["meta"]["id"])) == recording


def test_export_csv_to_a_file_has_one_row_per_sample(
    cli: Cli, recording: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "rec.csv"
    out = cli.ok("export", recording["meta"]["id"], "--csv", "-o", str(target))
    assert out.startswith(f"wrote {target} (CSV, ")
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert len(rows) == len(recording["samples"])
    assert [int(r["t_ms"]) for r in rows] == [s["t_ms"] for s in recording["samples"]]
    assert "encode_p99_us" in rows[0]
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_export_refuses_to_overwrite_a_file_without_force(
    cli: Cli, recording: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "rec.json"
    target.write_text("keep me")
    line = one_error_line(cli("export", recording["meta"]["id"], "-o", str(target)))
    assert str(target) in line
    assert "--force" in line
    assert target.read_text() == "keep me"

    cli.ok("export", recording["meta"]["id"], "-o", str(target), "--force")
    assert json.loads(target.read_text()) == recording


def test_rm_deletes_and_then_show_fails_with_not_found(cli: Cli, serve: Serve) -> None:
    serve.api("POST", "/stats/capture/start")
    recording_id = serve.api("POST", "/stats/capture/stop").json()["id"]
    assert cli.ok("rm", recording_id).startswith(f"deleted {recording_id} (")
    assert recording_id not in cli.ok("ls")
    line = one_error_line(cli("show", recording_id))
    assert line.startswith("punktfunk stats show: no recording with id")
    assert recording_id in line
    assert "punktfunk stats ls" in line


def test_the_token_is_found_in_the_config_dir(cli: Cli) -> None:
    # Only PUNKTFUNK_CONFIG_DIR points at serve's config dir: no --token, no PUNKTFUNK_TOKEN.
    result = cli("status", "--json", token=False)
    assert result.returncode == 0, result.stderr
    assert "armed" in json.loads(result.stdout)


def test_the_url_comes_from_the_bind_setting_with_a_wildcard_host(
    serve: Serve, tmp_path: Path
) -> None:
    port = serve.url.rsplit(":", 1)[1]
    config = tmp_path / "config"
    config.mkdir()
    (config / "token").write_text(serve.token + "\n")
    (config / "config.toml").write_text(f'bind = "0.0.0.0:{port}"\n')
    result = run_stats("status", env=clean_env(PUNKTFUNK_CONFIG_DIR=str(config)))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(("not recording", "recording"))

    (config / "config.toml").unlink()
    via_env = run_stats(
        "status",
        env=clean_env(PUNKTFUNK_CONFIG_DIR=str(config), PUNKTFUNK_BIND=f"127.0.0.1:{port}"),
    )
    assert via_env.returncode == 0, via_env.stderr


def test_flags_win_over_the_environment(cli: Cli, closed_port_url: str) -> None:
    env = cli.env(PUNKTFUNK_URL=closed_port_url, PUNKTFUNK_TOKEN="wrong")
    assert cli("status", env=env).returncode == 0  # --url and --token given
    from_env = cli("status", env=cli.env(PUNKTFUNK_URL=cli.serve.url), url=False)
    assert from_env.returncode == 0, from_env.stderr
