"""`colormnet study`: building the folder, the vote log, the report, and the page in a real headless
Chromium (the ``browser`` fixture: Debian's chromium + chromium-driver, driven by Selenium; nothing downloaded)."""

from __future__ import annotations

import csv
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from colormnet.cli import main
from colormnet.study.folder import load_study
from colormnet.study.report import study_report, wilson_interval
from colormnet.study.votes import VoteLog, read_votes
from tests.study_media import METHODS, make_study_clips


@pytest.fixture()
def study(tmp_path) -> Path:
    clips = make_study_clips(tmp_path / "media")
    argv = ["study", "make", str(tmp_path / "study"), "--title", "Test study"]
    for c in clips:
        argv += ["--clip", *c]
    assert main(argv) == 0
    return tmp_path / "study"


@pytest.fixture()
def server(study):
    from colormnet.study.server import StudyServer

    srv = StudyServer(study, "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_make_copies_and_anonymises(study, tmp_path):
    meta = load_study(study)
    assert meta["methods"] == list(METHODS) and len(meta["groups"]) == 2
    for g in meta["groups"]:
        assert {o["method"] for o in g["outputs"].values()} == set(METHODS)
        for token, o in g["outputs"].items():
            f = study / o["file"]
            assert f.name.startswith(token) and not any(m in f.name for m in METHODS)
            assert f.read_bytes() == Path(o["source"]).read_bytes()  # unchanged copy
        assert (study / g["input"]).read_bytes() == (tmp_path / "media" / f"{g['name']}.mp4").read_bytes()
    # an existing study is refused, and never replaced once it has votes
    again = ["study", "make", str(study), "--clip", *make_study_clips(tmp_path / "m2", groups=1)[0]]
    assert main(again) == 2
    (study / "votes.jsonl").write_text('{"observer": "a", "group": "g01", "method": "bistnet"}\n')
    assert main([*again, "--overwrite"]) == 2
    assert load_study(study)["groups"][1]["id"] == "g02"


@pytest.mark.parametrize(("args", "message"), [
    (["in.mp4", "ref.png", "a=x.mp4"], "at least two methods"),
    (["in.mp4", "ref.png", "a=x.mp4", "bx.mp4"], "should be METHOD=OUTPUT"),
    (["missing.mp4", "ref.png", "a=x.mp4", "b=y.mp4"], "input missing.mp4 does not exist"),
])
def test_make_bad_clips(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    for name in ("in.mp4", "ref.png", "x.mp4", "y.mp4"):
        if name != "missing.mp4":
            (tmp_path / name).write_bytes(b"x")
    assert main(["study", "make", "s", "--clip", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_vote_log_one_vote_per_observer_and_group(tmp_path):
    path = tmp_path / "votes.jsonl"
    a, b = VoteLog(path), VoteLog(path)  # two servers on one file
    assert a.add({"observer": "o1", "group": "g1", "method": "x"})
    assert not b.add({"observer": "o1", "group": "g1", "method": "y"})  # sees a's vote in the file
    assert b.add({"observer": "o1", "group": "g2", "method": "y"})
    assert a.groups_voted("o1") == {"g1", "g2"}
    with open(path, "a") as f:
        f.write('{"observer": "o2", "group": "g1"')  # a line cut short by a crash
    assert [v["method"] for v in read_votes(path)] == ["x", "y"]
    assert VoteLog(path).add({"observer": "o2", "group": "g1", "method": "x"}) is True


def test_wilson_interval():
    low, high = wilson_interval(3, 6)  # reference: statsmodels proportion_confint(3, 6, method="wilson")
    assert low == pytest.approx(0.18761, abs=1e-4) and high == pytest.approx(0.81239, abs=1e-4)
    low, high = wilson_interval(0, 10)
    assert low == pytest.approx(0.0, abs=1e-12) and high == pytest.approx(0.27753, abs=1e-4)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def _post(url: str, data: dict) -> int:
    req = urllib.request.Request(url + "vote", data=urllib.parse.urlencode(data).encode(), method="POST")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code


def test_server_shuffles_and_refuses_bad_requests(server):
    orders: dict[str, set[str]] = {"g01": set(), "g02": set()}
    for _ in range(16):
        with urllib.request.urlopen(server.url + "vote?observer=shuffle-check") as r:
            html = r.read().decode()
        group = html.split("name='group' value='")[1].split("'")[0]
        orders[group].add(html.split("name='order' value='")[1].split("'")[0])
        assert not any(m in html for m in METHODS)  # anonymised
    # a fresh random order of one clip's results on every page (P(fail) < 1e-6)
    assert all(orders.values()) and max(len(o) for o in orders.values()) > 1
    assert _post(server.url, {"observer": "x", "group": "g01", "choice": "nope"}) == 400
    assert _post(server.url, {"observer": "bad id!", "group": "g01", "choice": "nope"}) == 400
    for path in ("study.json", "votes.jsonl", "media/../study.json", "media/%2e%2e/study.json"):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.url + path)
        assert err.value.code == 404
    req = urllib.request.Request(server.url + server.groups["g01"]["input"], headers={"Range": "bytes=10-19"})
    with urllib.request.urlopen(req) as r:
        assert r.status == 206 and len(r.read()) == 10


# observer -> method chosen on (the first, the second) clip they are shown
CHOICES = {"alice": ("colormnet", "colormnet"), "bob": ("colormnet", "deoldify"), "carol": ("bistnet", "bistnet")}


def _click_and_wait(browser, element) -> None:
    """Click a submit button and wait until the next page has replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    old = browser.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(old))


def test_three_observers_in_chromium(study, server, browser, tmp_path):
    from selenium.webdriver.common.by import By

    shots = Path(tmp_path / "screenshots")
    shots.mkdir()
    groups = server.groups
    for observer, picks in CHOICES.items():
        browser.get(server.url)
        browser.find_element(By.ID, "observer").send_keys(observer)
        _click_and_wait(browser, browser.find_element(By.ID, "start"))
        for i, method in enumerate(picks):
            assert browser.find_element(By.ID, "who").text == observer
            assert browser.find_element(By.ID, "progress").text == f"{i + 1} of 2"
            gid = browser.find_element(By.NAME, "group").get_attribute("value")
            buttons = browser.find_elements(By.CSS_SELECTOR, "button.choose")
            assert [b.text for b in buttons] == ["Choose A", "Choose B", "Choose C"]
            token = next(t for t, o in groups[gid]["outputs"].items() if o["method"] == method)
            if observer == "alice" and i == 0:
                browser.execute_script("document.querySelectorAll('video').forEach(v => v.pause())")
                browser.save_screenshot(str(shots / "study_page.png"))
                old_page = browser.page_source
            _click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, f"button[value='{token}']"))
        assert "judged all 2 clips" in browser.find_element(By.ID, "message").text
        if observer == "alice":  # resubmitting an old page (browser history) is refused
            browser.execute_script("document.open(); document.write(arguments[0]); document.close();", old_page)
            _click_and_wait(browser, browser.find_elements(By.CSS_SELECTOR, "button.choose")[0])
            assert "already chosen a result for this clip" in browser.find_element(By.ID, "message").text
            browser.save_screenshot(str(shots / "study_double_vote.png"))
    # the same refusal without a browser
    gid = "g01"
    token = next(iter(groups[gid]["outputs"]))
    assert _post(server.url, {"observer": "carol", "group": gid, "choice": token}) == 409

    votes = read_votes(study / "votes.jsonl")
    assert len(votes) == 6
    assert sorted((v["observer"], v["method"]) for v in votes) == sorted(
        (o, m) for o, picks in CHOICES.items() for m in picks)
    assert all(sorted(v["shown"]) == sorted(METHODS) and v["shown"][v["position"]] == v["method"] for v in votes)

    report = study_report(study)
    assert [(s.method, s.chosen, s.total) for s in report.shares] == [("colormnet", 3, 6), ("deoldify", 1, 6),
                                                                       ("bistnet", 2, 6)]
    assert report.observers == 3
    assert sum(report.by_position) == 6
    assert report.by_position == tuple(sum(v["position"] == i for v in votes) for i in range(3))
    assert main(["study", "report", str(study)]) == 0
    with open(study / "report.csv", newline="") as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert rows["colormnet"]["percent"] == "50.00" and rows["colormnet"]["ci_low_percent"] == "18.76"
    assert rows["deoldify"]["percent"] == "16.67" and rows["bistnet"]["percent"] == "33.33"
    png = (study / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "6 votes from 3 observers on 2 clips" in (study / "report.md").read_text()
    assert (shots / "study_page.png").stat().st_size > 10000


def test_serve_port_in_use(study, capsys):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["study", "serve", str(study), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_report_without_votes(study, capsys):
    assert main(["study", "report", str(study)]) == 2
    assert "has no votes yet" in capsys.readouterr().err
    assert main(["study", "report", str(study.parent)]) == 2
    assert "is not a study folder" in capsys.readouterr().err
