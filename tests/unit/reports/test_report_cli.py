"""``netlmm-aaa report``: formats, the HTML report in a headless browser, and clear errors with a
non-zero exit for bad arguments, an unreachable database or an old schema."""

from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from netlmm_aaa.cli import main
from netlmm_aaa.persistence import migrate
from tests.unit.reports.test_reports import fill


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def filled(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    migrate.upgrade(url)
    fill(url)["engine"].dispose()
    return url


def test_every_report_runs_in_every_format(filled: str) -> None:
    for report in (["trail", "alice@example.org"], ["handovers"], ["aps"], ["security"],
                   ["signaling"]):  # fmt: skip
        for fmt in ("table", "csv", "json"):
            code, out, err = _run("report", *report, "--db", filled, "--format", fmt)
            assert (code, err) == (0, ""), (report, fmt)
            assert out.strip()
            if fmt == "json":
                assert json.loads(out)
    code, out, _ = _run("report", "handovers", "--db", filled, "--format", "json")
    assert json.loads(out)["Handovers"][0]["handovers"] == 2
    code, out, _ = _run("report", "handovers", "--db", filled, "--since", "2999-01-01")
    assert code == 0 and out.splitlines()[3].split()[0] == "0"


def test_html_report_renders_in_a_headless_browser(filled: str, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    code, out, err = _run("report", "html", str(page), "--db", filled)
    assert code == 0, err
    document = page.read_text()
    assert "<script src" not in document and "http" not in document.split("<body>")[0]
    assert document.count('<svg class="chart"') == 3
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (Debian 'chromium'; .ci/setup installs it)")
    profile = tmp_path / f"chromium-{uuid.uuid4().hex[:8]}"
    run = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert 'data-rendered="ok"' in run.stdout  # every chart was laid out with a size
    assert "mobility report" in run.stdout
    shot = tmp_path / "report.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={profile}",
         "--window-size=1100,1400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip
    assert shot.stat().st_size > 20_000  # a page with charts, not a blank image


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_errors_are_clear_and_exit_non_zero(tmp_path: Path, filled: str) -> None:
    code, _, err = _run("report", "handovers")
    assert code == 2 and "no database" in err
    code, _, err = _run("report", "handovers", "--db", filled, "--since", "yesterday-ish")
    assert code == 2 and "cannot read the time 'yesterday-ish'" in err
    code, _, err = _run("report", "aps", "--db", filled, "--since", "1h", "--until", "2h")
    assert code == 2 and "is not before" in err
    port = _free_port()  # nothing listens there
    code, _, err = _run(
        "report", "handovers", "--db", f"postgresql+psycopg://u:secret@127.0.0.1:{port}/x"
    )
    assert code == 2 and "cannot reach database" in err and "secret" not in err
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    code, _, err = _run("report", "security", "--db", empty)
    assert code == 2 and "no netlmm-aaa schema" in err and "db upgrade" in err
    old = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(old, "0002")
    code, _, err = _run("report", "trail", "x", "--db", old)
    assert code == 2 and "revision 0002" in err and "netlmm-aaa db upgrade" in err
    code, _, err = _run("report", "html", str(tmp_path / "no" / "such" / "dir.html"),
                        "--db", filled)  # fmt: skip
    assert code == 2 and "cannot write" in err
