"""The web UI in a real headless browser against real daemons (issue #13).

Playwright's Python package drives Debian's ``chromium`` (never Playwright's
own browser download, which cannot work here). A missing chromium or
playwright FAILS these tests with the install hint; they never skip.

- a 3-node network: log in with the link ``hartnode ui`` prints, every page
  renders the node's real data (peers, events of three origins, a fraud
  alert with its evidence, the compute policy with its sources, ...), a new
  event appears without a reload (server-sent events), maintenance runs
  with progress; a screenshot of every page goes to ``bench/out/ui/``;
- the apps: a user, a community, a post and a comment made in node A's UI;
  the post shows up in node B's feed page, which was open all along;
- the refusals: no session (sent to the login page; the API answers 401
  JSON), a used login link, a write without the CSRF header or with a wrong
  one (403), and a page reached under a foreign name that resolves to
  127.0.0.1 (DNS rebinding: 403).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Hartnode, Node, StartDaemon, free_port, init_node, wait_until

CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = ("the browser tests need Debian's chromium: `apt-get update && apt-get install -y "
                "chromium` (Playwright's own browser download is not used)")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run",
               "--disable-quic"]
SHOTS = Path(__file__).resolve().parents[3] / "bench" / "out" / "ui"
TIMEOUT_MS = 20_000


def _chromium() -> str:
    path = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if path is None:
        pytest.fail(f"chromium is missing: {INSTALL_HINT}")
    return path


def test_a_missing_chromium_fails_with_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="apt-get install -y chromium"):
        _chromium()


@pytest.fixture
def browser() -> Iterator[Any]:
    """A headless chromium, the system's, driven by Playwright's sync API."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("playwright is missing: pip install -e '.[test]'")
    executable = _chromium()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=[
            *LAUNCH_ARGS,
            # DNS rebinding, simulated: these names resolve to loopback.
            "--host-resolver-rules=MAP evil.example 127.0.0.1, MAP rebind.test 127.0.0.1"])
        try:
            yield b
        finally:
            b.close()


def login_url(node: Node) -> str:
    result = node.run("ui", "--json")
    assert result.returncode == 0, str(result)
    url = json.loads(result.stdout)["url"]
    assert url.startswith(f"{node.api_url}/login?token=")
    return str(url)


def cli(node: Node, *args: str) -> Any:
    result = node.run(*args)
    assert result.returncode == 0, str(result)
    return json.loads(result.stdout) if "--json" in args else result.stdout


def origins_held(node: Node) -> set[str]:
    result = node.run("ledger", "tail", "--json", "-n", "100")
    assert result.returncode == 0, str(result)
    return {json.loads(line)["origin"] for line in result.stdout.splitlines()}


class Ui:
    """One logged-in browser page on one node."""

    def __init__(self, browser: Any, node: Node) -> None:
        self.node = node
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def login(self) -> None:
        self.page.goto(login_url(self.node))
        assert self.page.url == f"{self.node.api_url}/"
        self.page.locator("#dash-node-id").wait_for()

    def open(self, page: str) -> Any:
        """Show ``page`` and wait until it rendered; the page's element."""
        self.page.goto(f"{self.node.api_url}/#/{page}")
        root = self.page.locator(f'#view > div[data-page="{page}"][data-ready="1"]')
        root.wait_for()
        return root

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def text(self, selector: str) -> str:
        return str(self.page.locator(selector).inner_text())


def _network(tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon
             ) -> dict[str, Node]:
    nodes = {name: init_node(hartnode, tmp_path / name) for name in "abc"}
    ports = {name: free_port() for name in nodes}
    for name, node in nodes.items():
        env = {"HARTNODE_NETWORK_LISTEN": f"127.0.0.1:{ports[name]}",
               "HARTNODE_NETWORK_SYNC_INTERVAL": "1", "HARTNODE_NETWORK_ANNOUNCE_INTERVAL": "1"}
        if name != "a":
            env["HARTNODE_NETWORK_SEEDS"] = f"ws://127.0.0.1:{ports['a']}/hart"
        start_daemon(node, env=env)
    a = nodes["a"]
    wait_until("A knows B and C", lambda: {nodes["b"].node_id, nodes["c"].node_id} <= {
        p["node_id"] for p in cli(a, "peers", "--json")})
    return nodes


def test_every_page_shows_a_three_node_network(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon, browser: Any) -> None:
    nodes = _network(tmp_path, hartnode, start_daemon)
    a, b, c = nodes["a"], nodes["b"], nodes["c"]
    for name, node in nodes.items():
        cli(node, "ledger", "append", "--kind", "note.created",
            "--payload", json.dumps({"text": f"hello from {name}"}))
    # Real data for the trust and compute pages: an alert with its evidence, a policy
    # value set by a signed event (its source shows), on A's ledger.
    alert = {"node_id": c.node_id, "alert_type": "equivocation", "severity": "high",
             "evidence": {"seq": 1, "hash_a": "aa" * 32, "hash_b": "bb" * 32}}
    cli(a, "ledger", "append", "--kind", "trust.fraud_alert.raised",
        "--payload", json.dumps(alert))
    cli(a, "compute", "policy", "set", "max_hive_gpu_pct", "30")
    wait_until("A holds the notes of B and C",
               lambda: {b.node_id, c.node_id} <= origins_held(a))

    ui = Ui(browser, a)
    ui.login()
    # Dashboard: identity, tier, peers, ledger head, compute, alerts.
    ui.open("dashboard")
    assert ui.text("#dash-node-id") == a.node_id
    assert ui.text("#dash-tier") == "flat"
    assert int(ui.text("#dash-peers")) >= 2
    assert ui.text("#dash-gpu") in ("CPU-only",) or ui.text("#dash-gpu").endswith("GPU")
    assert "recent" in ui.text("#dash-alerts")
    ui.shot("dashboard")

    # Peers: both peers in the table, and in the overlay picture, linked.
    ui.open("peers")
    for peer in (b, c):
        assert ui.page.locator(f'#peers-table tr[data-node="{peer.node_id}"]').count() == 1
        assert ui.page.locator(f'#overlay g[data-peer="{peer.node_id}"]').count() == 1
    assert ui.page.locator('#overlay line[data-active="1"]').count() >= 1
    assert "↑" in ui.text("#peers-table") and "↓" in ui.text("#peers-table")  # link traffic
    ui.shot("peers")

    # Ledger: events of three origins; one verified by the server; the filter.
    ui.open("ledger")
    rows = ui.page.locator("#ledger-table tr[data-hash]")
    shown = {rows.nth(i).get_attribute("data-origin") for i in range(rows.count())}
    assert {a.node_id, b.node_id, c.node_id} <= shown
    ui.page.locator('#ledger-table tr[data-kind="note.created"]').first.click()
    ui.page.locator("#event-verdict").wait_for()
    assert "verified" in ui.text("#event-verdict") and "FAILED" not in ui.text("#event-verdict")
    assert ui.page.locator('[data-check="signature"]').inner_text().startswith("✓")
    assert len(ui.text("#event-sig")) == 128
    ui.shot("ledger")
    ui.page.fill("#filter-kind", "trust.*")
    ui.page.click("#ledger-filter button[type=submit]")
    ui.page.locator('#ledger-table tr[data-kind="trust.fraud_alert.raised"]').wait_for()
    assert ui.page.locator('#ledger-table tr[data-kind="note.created"]').count() == 0

    # Live: an event appended now shows up without a reload.
    ui.open("ledger")
    before = rows.count()
    cli(a, "ledger", "append", "--kind", "note.created", "--payload", '{"text": "live"}')
    rows.nth(before).wait_for()

    # Trust: the alert and its evidence.
    ui.open("trust")
    alert_box = ui.page.locator("#alerts [data-alert]").first
    assert c.node_id in alert_box.inner_text()
    alert_box.locator("summary").click()
    assert '"hash_a"' in alert_box.locator("pre").inner_text()
    ui.shot("trust")

    # Compute: the policy with where each value comes from; metered spend.
    ui.open("compute")
    row = ui.page.locator('#compute-policy tr[data-key="max_hive_gpu_pct"]')
    assert "30" in row.inner_text() and "node_compute_config" in row.inner_text()
    assert "$" in ui.text("#metered-spend")
    ui.shot("compute")

    # Maintenance: verify, backup and rebuild run, with progress, to done.
    ui.open("maintenance")
    for op in ("verify", "backup", "rebuild"):
        ui.page.click(f"#op-{op}")
        ui.page.locator(f'#ops [data-op="{op}"][data-state="done"]').wait_for()
    result = ui.page.locator('#ops [data-op="verify"] .op-result').first.text_content()
    assert result is not None and json.loads(result)["ok"] is True
    ui.shot("maintenance")

    # The apps' pages: test_social_pages_... and test_recipe_and_goal_pages.
    assert ui.errors == []


def _fetch(page: Any, method: str, path: str, csrf: str | None) -> dict[str, Any]:
    """A request made by the page's own JavaScript (the cookie rides along)."""
    return page.evaluate("""async ([method, path, csrf]) => {
        const headers = {"Content-Type": "application/json"};
        if (csrf !== null) headers["X-CSRF-Token"] = csrf;
        const r = await fetch(path, {method, headers, body: method === "GET" ? undefined
            : JSON.stringify({kind: "note.created", reach: "network",
                              payload: {text: "from the page"}})});
        return {status: r.status, body: await r.json()};
    }""", [method, path, csrf])  # type: ignore[no-any-return]


def test_the_ui_refuses_what_it_must(
        node: Node, start_daemon: StartDaemon, browser: Any) -> None:
    gone = node.run("ui")
    assert gone.returncode == 4 and "hartnode run" in gone.stderr  # no daemon yet
    start_daemon(node)
    ui = Ui(browser, node)

    # No session: the page sends the browser to the login help; the API is JSON 401.
    ui.page.goto(f"{node.api_url}/#/ledger")
    assert ui.page.url.split("#")[0] == f"{node.api_url}/login"
    assert "hartnode ui" in ui.text("#login-help")
    ui.shot("login")
    api = ui.page.goto(f"{node.api_url}/api/v1/node")
    assert api.status == 401 and "hartnode ui" in api.json()["hint"]

    # A login link works once.
    url = login_url(node)
    ui.page.goto(url)
    assert ui.page.url == f"{node.api_url}/"
    second = ui.context.new_page().goto(url)
    assert second.status == 403

    # Writes from the page: without the CSRF header or with a wrong one, 403.
    ui.open("dashboard")
    csrf = next(c["value"] for c in ui.context.cookies()
                if c["name"] == f"hartnode-csrf-{node.api_port}")
    session = next(c for c in ui.context.cookies()
                   if c["name"] == f"hartnode-session-{node.api_port}")
    assert session["httpOnly"] is True and session["sameSite"] == "Strict"
    missing = _fetch(ui.page, "POST", "/api/v1/events", None)
    wrong = _fetch(ui.page, "POST", "/api/v1/events", csrf[::-1])
    right = _fetch(ui.page, "POST", "/api/v1/events", csrf)
    assert missing["status"] == 403 and "CSRF" in missing["body"]["error"]
    assert wrong["status"] == 403
    assert right["status"] == 201 and right["body"]["payload"] == {"text": "from the page"}

    # DNS rebinding: a page under another name that resolves to 127.0.0.1.
    rebound = ui.page.goto(f"http://evil.example:{node.api_port}/")
    assert rebound.status == 403 and "Host" in rebound.json()["error"]
    rebound_api = ui.page.goto(f"http://rebind.test:{node.api_port}/api/v1/node")
    assert rebound_api.status == 403
    assert ui.errors == []


def test_social_pages_and_a_post_that_travels(
        tmp_path: Path, hartnode: Hartnode, start_daemon: StartDaemon, browser: Any) -> None:
    nodes = _network(tmp_path, hartnode, start_daemon)
    a, b = nodes["a"], nodes["b"]
    on_a, on_b = Ui(browser, a), Ui(browser, b)
    on_a.login()
    on_b.login()
    # B watches its feed while A posts: the post arrives by replication, the
    # page by the event stream, with no reload.
    on_b.open("feed")
    page = on_a.page
    on_a.open("feed")
    page.fill("#new-user", "alice")
    page.click("#acting button[type=submit]")
    page.locator("#acting-user option[value=alice]").wait_for(state="attached")
    on_a.open("communities")
    page.fill("#community-name", "gardening")
    page.fill("#community-description", "plants and soil")
    page.click("#community-form button[type=submit]")
    page.locator("#communities [data-community]").first.wait_for()
    on_a.shot("communities")
    on_a.open("feed")
    page.fill("#post-title", "Hello from A")
    page.fill("#post-body", "a post made in the UI of node A")
    page.select_option("#post-community", label="gardening")
    page.click("#post-form button[type=submit]")
    page.locator("#feed .post a.post-title", has_text="Hello from A").click()
    page.fill("#comment-body", "and a comment")
    page.click("#comment-form button[type=submit]")
    page.locator("ul.comments li", has_text="and a comment").wait_for()
    on_a.shot("thread")
    on_b.page.locator("#feed .post", has_text="Hello from A").wait_for(timeout=60_000)
    assert "alice@" in on_b.text("#feed .post")
    on_b.shot("feed")

    assert on_a.errors == [] and on_b.errors == []


def test_recipe_and_goal_pages(node: Node, start_daemon: StartDaemon, browser: Any) -> None:
    start_daemon(node)
    on_a = Ui(browser, node)
    on_a.login()
    page = on_a.page
    # Recipes: share, search, fork.
    on_a.open("recipes")
    page.fill("#recipe-title", "Tomato soup")
    page.fill("#recipe-prompt-input", "a warm soup with tomatoes")
    page.fill("#recipe-steps-input", "chop the tomatoes\nsimmer for 20 minutes\nblend")
    page.fill("#recipe-tags", "soup, vegan")
    page.click("#recipe-form button[type=submit]")
    page.locator("#recipe-steps li", has_text="simmer").wait_for()
    page.click("#recipe-fork")
    page.locator("#view a", has_text="← recipes").wait_for()
    page.locator("text=fork of").first.wait_for()
    on_a.open("recipes")
    page.fill("#recipe-query", "tomato soup")
    page.click("#recipe-search button[type=submit]")
    page.locator("#recipe-results .post", has_text="Tomato soup").first.wait_for()
    on_a.shot("recipes")

    # Goals: create, activate; its budget shows.
    on_a.open("goals")
    page.fill("#goal-title", "index the library")
    page.fill("#goal-budget", "2.5")
    page.click("#goal-form button[type=submit]")
    page.locator('#goals [data-status="draft"] button[data-to="active"]').click()
    goal = page.locator('#goals [data-status="active"]')
    goal.wait_for()
    assert "of 2.500 Spark" in goal.inner_text()
    on_a.shot("goals")
    assert on_a.errors == []
