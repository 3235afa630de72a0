"""Helpers shared by the browser tests (report/test_report.py, test_dashboard.py): Debian's
headless chromium, run on a file or URL, and a probe that reports a page's JavaScript
errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

from conftest import missing

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]

# First in <head>: records every error and console.error of the page and writes them into
# the DOM once the page has loaded and plotly has drawn.
JS_ERROR_PROBE = """<script>
window.__errors = [];
window.addEventListener('error', e => window.__errors.push('error: ' + e.message));
window.addEventListener('unhandledrejection', e => window.__errors.push('rejection: ' + e.reason));
const __ce = console.error;
console.error = (...a) => { window.__errors.push('console.error: ' + a.join(' ')); __ce(...a); };
window.addEventListener('load', () => setTimeout(() => {
  const pre = document.createElement('pre'); pre.id = 'js-errors';
  pre.textContent = JSON.stringify(window.__errors); document.body.appendChild(pre);
}, 500));
</script>"""


def chromium() -> str:
    """Debian's chromium (installed by tests/services.sh). Missing: the test fails."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        missing("chromium is not installed: `apt-get install -y chromium` (Debian's "
                "package; tests/services.sh installs it)")
    return path


def run_chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=300)


def render_with_probe(html_path: Path, folder: Path
                      ) -> tuple[list[str], subprocess.CompletedProcess]:
    """Load a copy of ``html_path`` with `JS_ERROR_PROBE` in headless chromium; returns
    the page's JavaScript errors and chromium's run (its stdout is the rendered DOM)."""
    probed = folder / f"probed-{html_path.name}"
    text = html_path.read_text(encoding="utf-8")
    probed.write_text(text.replace("<head>", "<head>\n" + JS_ERROR_PROBE, 1), encoding="utf-8")
    dom = run_chromium(["--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000",
                        "--dump-dom", probed.as_uri()], folder / "profile")
    assert dom.returncode == 0, dom.stderr[-2000:]
    found = re.search(r'<pre id="js-errors">(.*?)</pre>', dom.stdout, re.S)
    assert found, "the probe never ran: the page did not load"
    errors = json.loads(found.group(1).replace("&quot;", '"'))
    errors += [ln for ln in dom.stderr.splitlines() if "Uncaught" in ln]
    return errors, dom
