"""The documentation site: its snippets are files that run, its generated parts come from the
code, it builds with ``mkdocs build --strict``, and its diagrams render in a real browser."""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from oms_sdk.lifecycle import LifecycleCompiler
from oms_sdk.policy import load_policies

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = DOCS / "examples"
SITE = ROOT / "site"  # the build folder (mkdocs' site_dir); the screenshot is saved there
_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```$", re.S | re.M)
_INCLUDE = re.compile(r'^--8<-- "([^"]+)"$')
#: Blocks that other tests check against the code, by page and language.
CHECKED_ELSEWHERE = {
    ("plugins.md", "python"): "tests/docs/test_plugin_guide.py (each equals its example file)",
    ("plugins.md", "yaml"): "tests/docs/test_plugin_guide.py (loaded as a policy)",
    ("plugins.md", "toml"): "tests/docs/test_plugin_guide.py (the plugin's pyproject)",
    ("reference/api.md", "python"): "tests/docs/test_reference.py (signatures)",
    ("reference/policy.md", "console"): "tests/docs/test_reference.py (real CLI output)",
    ("errors.md", "text"): "tests/docs/test_reference.py (the class tree)",
    ("embedding.md", "json"): "tests/docs/test_embedding.py (a real error body)",
    ("embedding.md", "mermaid"): "a drawing, not code",
}


def hooks() -> ModuleType:
    import importlib.util

    spec = importlib.util.spec_from_file_location("_docs_hooks", DOCS / "hooks.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if "examples" not in p.parts)


# -- snippets ----------------------------------------------------------------------------------


def test_every_code_block_is_a_file_under_docs_or_checked_elsewhere() -> None:
    for page in pages():
        name = page.relative_to(DOCS).as_posix()
        for language, body in _FENCE.findall(page.read_text(encoding="utf-8")):
            included = _INCLUDE.match(body.strip())
            if included:
                target = included.group(1).split(":")[0]
                assert (DOCS / target).is_file(), f"{name}: {target} does not exist"
                continue
            assert (name, language) in CHECKED_ELSEWHERE, (
                f"{name}: a {language} block written in the page; put it in a file under "
                "docs/examples and include it with --8<--"
            )


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the example policies, as a reader's project would have."""
    shutil.copytree(ROOT / "config_examples", tmp_path / "config_examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run_example(path: Path, cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, str(path)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(path.parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize(
    "example",
    [
        "getting_started/first_order.py",
        "concepts/ledger.py",
        "concepts/idempotency.py",
        "concepts/outbox.py",
    ],
)
def test_each_example_prints_what_its_page_shows(workdir: Path, example: str) -> None:
    script = EXAMPLES / example
    printed = run_example(script, workdir)
    assert printed == script.with_suffix(".txt").read_text(encoding="utf-8")


def test_the_install_command_is_the_readmes() -> None:
    command = (EXAMPLES / "getting_started" / "install.sh").read_text(encoding="utf-8").strip()
    assert command in (ROOT / "README.md").read_text(encoding="utf-8")


def test_first_order_fits_in_twenty_lines() -> None:
    code = (EXAMPLES / "getting_started" / "first_order.py").read_text(encoding="utf-8")
    assert len([line for line in code.splitlines() if line.strip()]) <= 20


def test_the_diagram_commands_draw(workdir: Path) -> None:
    done = subprocess.run(
        ["bash", "-e", str(EXAMPLES / "diagrams" / "draw.sh")],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "stateDiagram-v2" in done.stdout
    svg = (workdir / "jp-card.svg").read_text(encoding="utf-8")
    assert svg.startswith("<svg")
    assert 'id="state-review"' in svg


def test_the_deployment_commands_run(workdir: Path, tmp_path: Path) -> None:
    """deploy.sh as an operator runs it: migrate, reconcile, relay to a real Redis stream."""
    redis = pytest.importorskip("redis")
    eu = workdir / "config_examples" / "eu.yaml"
    eu.write_text(
        eu.read_text(encoding="utf-8").replace(
            "plugins: [sandbox, stock, rate_table]",
            "plugins: [sandbox, stock, rate_table, redis_streams]",
        ),
        encoding="utf-8",
    )
    assert "redis_streams" in eu.read_text(encoding="utf-8")
    stream = f"oms:docs-test:{os.getpid()}:{time.monotonic_ns()}"
    url = f"sqlite:///{tmp_path / 'deploy.sqlite3'}"
    env = {
        **os.environ,
        "POLICIES": "config_examples",
        "OMS_DATABASE_URL": url,
        "OMS_REDIS_STREAM": stream,
    }
    from oms_sdk import OMS

    with OMS.open("config_examples", url) as oms:
        oms.create_order("EU")
    client = redis.Redis.from_url(os.environ.get("OMS_REDIS_URL", "redis://127.0.0.1:6379/0"))
    try:
        done = subprocess.run(
            ["bash", str(EXAMPLES / "operations" / "deploy.sh")],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "already at head" in done.stdout
        assert "nothing to reconcile" in done.stdout
        assert "redis_streams: 1 delivered" in done.stdout
        assert client.xlen(stream) == 1
    finally:
        client.delete(stream, *client.keys(f"{stream}:*"))
        client.close()


# -- generated parts ---------------------------------------------------------------------------


def test_every_marker_in_the_pages_has_a_generator() -> None:
    module = hooks()
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for name in module.MARKER.findall(text):
            assert name in module.GENERATORS, f"{page.name}: unknown generated part {name}"
        assert "<!-- generated:" not in module.render(text), page.name


def test_the_diagrams_page_draws_every_example_lifecycle_as_oms_diagram_does() -> None:
    module = hooks()
    markdown = module.diagrams_markdown()
    policies = load_policies(ROOT / "config_examples")
    compiler = LifecycleCompiler()
    blocks = re.findall(r"```mermaid\n(.*?)\n```", markdown, re.S)
    expected = [
        compiler.lifecycle(policies.market(market), pm).mermaid().strip()
        for market, pm in module.variants(policies)
    ]
    assert sorted(blocks) == sorted(expected)
    assert len(blocks) == sum(len(m.payment_methods) + 1 for m in policies)


# -- the built site, in a browser --------------------------------------------------------------


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """``mkdocs build --strict`` into site/, served on localhost."""
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(SITE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_site_builds_with_every_page_and_diagram(site: str) -> None:
    for page in ("concepts", "diagrams", "embedding", "reference/policy", "errors"):
        assert (SITE / page / "index.html").is_file()
    assert len(list((SITE / "lifecycles").glob("*.svg"))) >= 10


def _mermaid_svgs(driver: object) -> int:
    """SVG elements inside the Mermaid diagrams, closed shadow roots included (CDP)."""
    document = driver.execute_cdp_cmd(  # type: ignore[attr-defined]
        "DOM.getDocument", {"depth": -1, "pierce": True}
    )
    found = 0

    def walk(node: dict[str, object], inside: bool) -> None:
        nonlocal found
        attributes = list(node.get("attributes", []))  # type: ignore[call-overload]
        classes = dict(zip(attributes[::2], attributes[1::2], strict=False)).get("class", "")
        inside = inside or "mermaid" in str(classes).split()
        if inside and str(node.get("nodeName", "")).lower() == "svg":
            found += 1
        for child in [*node.get("children", []), *node.get("shadowRoots", [])]:  # type: ignore[misc]
            walk(child, inside)

    walk(document["root"], False)
    return found


def test_the_concepts_page_renders_its_mermaid_diagrams_in_chromium(site: str) -> None:
    if os.environ.get("OMS_SKIP_BROWSER") == "1":
        pytest.skip("OMS_SKIP_BROWSER=1")
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):  # not a skip: .ci/run installs them
        pytest.fail("the browser check needs Debian's chromium and chromium-driver packages")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(f"{site}/concepts/")
        deadline = time.monotonic() + 30
        while (svgs := _mermaid_svgs(driver)) < 3 and time.monotonic() < deadline:
            time.sleep(0.25)
        assert svgs >= 3, "the capture-mode diagrams did not render"
        driver.execute_script("document.querySelector('.mermaid').scrollIntoView()")
        (SITE / "screenshots").mkdir(exist_ok=True)
        assert driver.save_screenshot(str(SITE / "screenshots" / "concepts.png"))
    finally:
        driver.quit()


def test_the_benchmark_commands_name_real_options() -> None:
    """bench.sh is not run here (the full run takes minutes; test_cli runs --quick)."""
    from typer.testing import CliRunner

    from oms_sdk.cli import app

    shown = CliRunner().invoke(app, ["bench", "--help"], terminal_width=200)
    assert shown.exit_code == 0
    commands = (EXAMPLES / "performance" / "bench.sh").read_text(encoding="utf-8").splitlines()
    options = {w for line in commands for w in line.split("#")[0].split() if w.startswith("--")}
    assert options == {"--quick", "--postgres", "--chart"}
    assert all(option in shown.output for option in options)
