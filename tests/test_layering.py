"""Layers: tierlib imports nothing of Airflow; the Airflow side lives in plugins/tierflow_airflow."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent


def _airflow_imports(path: Path) -> list[str]:
    """Every ``import airflow...``, ``from airflow...`` or ``import_module("airflow...")`` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        found += [f"{path.relative_to(PROJECT)}:{node.lineno} {name}" for name in names]
    return [entry for entry in found if entry.split(" ", 1)[1].split(".")[0] == "airflow"]


def test_no_tierlib_module_imports_airflow():
    modules = sorted((PROJECT / "tierlib").rglob("*.py"))
    assert len(modules) > 40  # the scan reads the real package
    offenders = [entry for path in modules for entry in _airflow_imports(path)]
    assert offenders == [], "tierlib must not import Airflow; move these to plugins/tierflow_airflow"


def test_the_scan_sees_every_form_of_import(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "PROJECT", tmp_path)
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os\nimport airflow.sdk\nfrom airflow.providers.amazon import x\n"
        "def f():\n    import importlib\n    return importlib.import_module('airflow.models')\n"
        "from airflow_like import y\n",
        encoding="utf-8",
    )
    assert [entry.split(" ")[1] for entry in _airflow_imports(sample)] == [
        "airflow.sdk",
        "airflow.providers.amazon",
        "airflow.models",
    ]


def test_airflow_puts_the_plugins_folder_on_sys_path_so_dags_and_plugins_import_the_airflow_side():
    # No pytest pythonpath here: only what Airflow itself adds when it is imported.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env["PYTHONPATH"] = str(PROJECT)
    code = "import airflow, tierflow_airflow.support as support; print(support.__file__)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/", check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    location = result.stdout.strip().splitlines()[-1]
    assert Path(location) == PROJECT / "plugins" / "tierflow_airflow" / "support.py"


def test_the_plugin_manager_and_the_dag_processor_leave_tierflow_airflow_alone():
    from airflow._shared.module_loading.file_discovery import find_path_from_directory
    from airflow.dag_processing.dagbag import DagBag

    plugins = PROJECT / "plugins"
    loaded = sorted(
        Path(path).relative_to(plugins).as_posix()
        for path in find_path_from_directory(str(plugins), ".airflowignore", "glob")
        if path.endswith(".py")
    )
    assert loaded == ["tierflow_reports.py"]
    bag = DagBag(dag_folder=str(PROJECT / "dags"))
    assert bag.import_errors == {}
    assert {Path(dag.fileloc).name for dag in bag.dags.values()} == {
        "tierflow_monthly.py",
        "tierflow_quarterly.py",
    }
