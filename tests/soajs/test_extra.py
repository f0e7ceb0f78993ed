"""Without httpx, a SOAJS-enabled app does not start: one line naming the extra to install."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_plugwork_run_without_httpx_names_the_soajs_extra(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "httpx.py").write_text("raise ModuleNotFoundError(\"No module named 'httpx'\", name='httpx')\n")
    (tmp_path / "svc.py").write_text("from plugwork import App\napp = App('svc')\n")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SOAJS_", "PLUGWORK_"))},
        "PYTHONPATH": str(shadow),
        "SOAJS_REGISTRY_API": "127.0.0.1:5000",
        "PLUGWORK_QUEUE_URL": "none",
    }
    plugwork = Path(sys.executable).with_name("plugwork")
    done = subprocess.run(
        [str(plugwork), "run", "svc:app", "--port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "Error: MissingDependency: httpx is not installed: pip install 'plugwork[soajs]'"
    )


def test_apps_without_soajs_start_without_httpx(tmp_path: Path) -> None:
    """The SOAJS plugin is built in: importing it must not need the extra when SOAJS is not used."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "httpx.py").write_text("raise ModuleNotFoundError(\"No module named 'httpx'\", name='httpx')\n")
    code = (
        "import asyncio\n"
        "from plugwork import App, Settings\n"
        "from plugwork.soajs import SOAJSMiddleware, get_soajs_context\n"
        "async def main():\n"
        "    async with App('svc', settings=Settings(queue_url='none')) as app:\n"
        "        print('STATE=' + app.state.value)\n"
        "asyncio.run(main())\n"
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SOAJS_", "PLUGWORK_"))},
        "PYTHONPATH": str(shadow),
    }
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "STATE=running" in done.stdout.splitlines()
