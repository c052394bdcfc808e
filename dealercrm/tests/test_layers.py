"""The apps depend one way (docs/architecture.md): ``reports`` > ``funnel`` > ``baseclients`` | ``defeats`` > ``leads`` >
``dealercrm``. import-linter checks the contract in pyproject.toml ([tool.importlinter]) over every import of the
project, function-level imports included; a lower app importing a higher one fails this test with the import's
module and line."""

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# The project's own apps: every installed app whose package lives in this repository.
APPS = {name.split(".")[0] for name in __import__("django.conf").conf.settings.INSTALLED_APPS
        if (ROOT / name.split(".")[0] / "apps.py").exists() or (ROOT / name.split(".")[0] / "models.py").exists()}


def lint(config: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--config", str(config), "--no-cache", "--no-logo"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)


def config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_no_app_imports_an_app_above_it():
    result = lint(ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_the_contract_covers_every_app_in_its_layer():
    (contract,) = config()["contracts"]
    assert set(config()["root_packages"]) == APPS
    layered = {app.strip() for layer in contract["layers"] for app in layer.split("|")}
    assert layered == APPS  # a new app takes its place in the layers
    assert contract["layers"][-2:] == ["leads", "dealercrm"]


def test_only_the_composition_root_and_the_tests_are_exempt():
    (contract,) = config()["contracts"]
    assert contract["ignore_imports"] == [
        "dealercrm.urls -> **",
        "dealercrm.api.urls -> **",
        "dealercrm.management.commands.* -> **",
        "*.tests.** -> **",
    ]


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The check is not vacuous: without the exemptions, the composition root's imports (module level) and the
    scoping walk's (inside a function) are reported as broken."""
    contract = config()["contracts"][0]
    lines = [
        "[importlinter]",
        "root_packages =", *(f"    {app}" for app in sorted(APPS)),
        "[importlinter:contract:layers]",
        f"name = {contract['name']}",
        "type = layers",
        "layers =", *(f"    {layer}" for layer in contract["layers"]),
    ]
    strict = tmp_path / ".importlinter"
    strict.write_text("\n".join(lines) + "\n")
    result = lint(strict)
    assert result.returncode != 0
    assert "0 kept, 1 broken" in result.stdout
    assert "dealercrm.urls -> leads.views" in result.stdout  # module level
    assert "dealercrm.tests.walk -> leads.tests.factories" in result.stdout  # inside a function
