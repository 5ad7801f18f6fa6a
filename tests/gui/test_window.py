"""The launcher window over a recording fake backend (no Docker): browse, filter, details,
launches, images, recents/favourites, errors shown as messages, plain text."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path

from PySide6.QtCore import QEvent, QModelIndex, QPoint, Qt, QTimer
from PySide6.QtGui import QStandardItemModel, QTextDocument
from PySide6.QtWidgets import QApplication, QLabel, QTableWidget, QToolButton

from landscape.gui.window import DATA_ROLE, PATH_ROLE

from .fakes import ROOT, FakeBackend, Folder, example_backend, many_shots_backend

L = ROOT / "projects/lighthouse"
SH010 = L / "seq010/sh010"
SH020 = L / "seq010/sh020"


def wait_details(qtbot, win, path: Path, tool: str | None = None) -> None:
    """Wait until the details of ``path`` (and ``tool``) are shown."""
    def shown() -> bool:
        d = win._details
        return (d is not None and d.context == path and not win._resolving
                and (tool is None or d.tool == tool))
    qtbot.waitUntil(shown, timeout=60_000)


def table(win, name: str) -> list[list[str]]:
    t = win.findChild(QTableWidget, name)
    return [[t.item(r, c).text() for c in range(t.columnCount())] for r in range(t.rowCount())]


def test_opens_on_selection(qtbot, fake, open_window):
    win = open_window(fake, select=SH020)
    wait_details(qtbot, win, SH020, "blender")
    rows = {r[0]: r for r in table(win, "metadataPanel")}
    assert rows["resolution"][1] == "640 × 272"


def select(qtbot, win, path: Path, tool: str | None = None) -> None:
    win.select_context(path, tool=tool)
    wait_details(qtbot, win, path, tool)


def tree_paths(win) -> list[str]:
    """Every path the context tree's current model shows (walking what is loaded)."""
    model = win.contextTree.model()
    out = []

    def walk(parent):
        for r in range(model.rowCount(parent)):
            i = model.index(r, 0, parent)
            out.append(i.data(PATH_ROLE))
            walk(i)
    walk(QModelIndex())
    return out


def test_filter_select_and_metadata_provenance(qtbot, fake, open_window):
    win = open_window(fake)
    wait_details(qtbot, win, ROOT)
    win.activateWindow()
    qtbot.keyClick(win.contextTree, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(win.filterEdit.hasFocus)
    qtbot.keyClicks(win.filterEdit, "SEQ010 sh02")
    # the index search (the index is built when the filter is first wanted), ancestors kept
    qtbot.waitUntil(lambda: win._filtering)
    # one result model at a time (each keystroke's replaces the previous one)
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    assert len(win.findChildren(QStandardItemModel, "filterResults")) == 1
    shown = tree_paths(win)
    assert str(SH020) in shown and str(L / "seq010") in shown and str(SH010) not in shown
    qtbot.keyClick(win.filterEdit, Qt.Key.Key_Return)
    wait_details(qtbot, win, SH020, "blender")
    rows = {r[0]: r for r in table(win, "metadataPanel")}
    assert rows["resolution"][1] == "640 × 272"
    assert rows["resolution"][2].startswith("projects/lighthouse/seq010/sh020/landscape.yaml:")
    assert rows["fps"][1] == "25" and rows["fps"][2].startswith("projects/lighthouse/landscape")
    t = win.findChild(QTableWidget, "metadataPanel")
    keys = [t.item(r, 0).text() for r in range(t.rowCount())]
    assert keys[:3] == ["fps", "resolution", "frames"]           # the typed rows first
    assert "seq010/sh020/landscape.yaml" in t.item(keys.index("resolution"), 1).toolTip()
    crumbs = [b.text() for b in win.breadcrumbs.findChildren(QToolButton)]
    assert crumbs[-3:] == ["lighthouse (project)", "seq010 (sequence)", "sh020 (shot)"]
    # Esc clears the filter and gives the lazy tree back, with the selection revealed
    qtbot.keyClick(win.filterEdit, Qt.Key.Key_Escape)
    assert win.filterEdit.text() == "" and win.contextTree.model() is win.tree_model
    qtbot.waitUntil(lambda: win.contextTree.currentIndex().data(PATH_ROLE) == str(SH020))


def test_filter_matches_nothing_and_waits_for_the_index(qtbot, fake, open_window):
    win = open_window(fake)
    qtbot.waitUntil(lambda: win.tree_model.studio_node() is not None)
    win.filterEdit.setText("nothing-like-this")
    assert "indexing" in win.resolveStatus.text()
    qtbot.waitUntil(lambda: win._filtering)
    assert tree_paths(win) == [] and "0 matches" in win.resolveStatus.text()


def test_per_shot_packages(qtbot, fake, open_window):
    win = open_window(fake)
    select(qtbot, win, SH010, "blender")
    pk = {r[0]: r for r in table(win, "packagesTable")}
    assert pk["studio_pipeline"][1] == "1.1.0"
    assert pk["studio_pipeline"][2].startswith("projects/lighthouse/landscape.yaml:")
    select(qtbot, win, SH020, "blender")
    pk = {r[0]: r for r in table(win, "packagesTable")}
    assert pk["studio_pipeline"][1] == "1.0.0"
    assert pk["studio_pipeline"][2].startswith("projects/lighthouse/seq010/sh020/landscape")
    assert pk["blender"][1] == "3.4.1"


def test_tool_list_variants_and_command_line(qtbot, fake, open_window):
    win = open_window(fake, select=SH020)
    wait_details(qtbot, win, SH020, "blender")
    assert [win.toolList.item(i).data(DATA_ROLE) for i in range(win.toolList.count())] == \
        ["blender", "python"]
    assert [win.variantCombo.itemData(i) for i in range(win.variantCombo.count())] == \
        ["", "render"]                                            # default first
    win.variantCombo.setCurrentIndex(1)
    win.argsEdit.setText("-f 1 'a b'")
    assert win.commandLine.text() == \
        f"landscape launch {SH020} --tool blender/render -- -f 1 'a b'"
    qtbot.mouseClick(win.copyCommandButton, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == win.commandLine.text()
    win.toolList.setCurrentRow(1)
    wait_details(qtbot, win, SH020, "python")
    assert win.commandLine.text().startswith(f"landscape launch {SH020} --tool python")
    assert "blender" not in {r[0] for r in table(win, "packagesTable")}


def test_context_variant_changes_metadata(qtbot, fake, open_window):
    win = open_window(fake, select=SH010)
    wait_details(qtbot, win, SH010, "blender")
    assert "render" not in {r[0] for r in table(win, "metadataPanel")}
    combo = win.contextVariantCombo
    assert [combo.itemData(i) for i in range(combo.count())] == ["", "lighting"]
    combo.setCurrentIndex(1)
    combo.activated.emit(1)
    qtbot.waitUntil(lambda: win._details.variants == ("lighting",) and not win._resolving)
    rows = {r[0]: r for r in table(win, "metadataPanel")}
    assert rows["render"][1] == "samples: 32"
    assert rows["render"][2] == "projects/lighthouse/landscape.lighting.yaml:3"
    assert "--variant lighting" in win.commandLine.text()


def test_launch_output_and_exit_codes_while_the_ui_runs(qtbot, fake, open_window):
    win = open_window(fake, select=SH010, tool="python")
    wait_details(qtbot, win, SH010, "python")
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(10)
    # the process waits until the test has seen the UI thread tick while it runs
    gate = Path(qtbot._request.node.name + ".gate").absolute()
    gate.unlink(missing_ok=True)
    script = ("import os, sys, time\nprint('hello from the tool', flush=True)\n"
              f"while not os.path.exists({str(gate)!r}): time.sleep(0.01)\nprint('bye')")
    win.argsEdit.setText(shlex.join(["-c", script]))
    qtbot.mouseClick(win.launchButton, Qt.MouseButton.LeftButton)
    log = win.logPanel.currentWidget()
    qtbot.waitUntil(lambda: "hello from the tool" in log.toPlainText())
    assert win.runningList.count() == 1 and "running" in win.exitCodeLabel.text()
    before = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) >= before + 5)   # the UI thread kept running
    gate.write_text("go")
    try:
        qtbot.waitUntil(lambda: win.exitCodeLabel.text().startswith("exit code 0"))
    finally:
        gate.unlink(missing_ok=True)
    assert "bye" in log.toPlainText() and win.runningList.count() == 0
    lines = log.toPlainText().splitlines()  # the command on its own line, then the output
    assert lines[0].startswith("$ landscape launch ") and "hello from the tool" in lines
    label = win.exitCodeLabel                # the duration is not cut off, once laid out
    qtbot.waitUntil(lambda: label.width() >= label.fontMetrics().horizontalAdvance(label.text()))
    # a second launch exiting 3, its stderr shown
    win.argsEdit.setText(shlex.join(["-c", "import sys; sys.stderr.write('oops\\n'); "
                                            "sys.exit(3)"]))
    qtbot.mouseClick(win.launchButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.exitCodeLabel.text().startswith("exit code 3"))
    assert "oops" in win.logPanel.currentWidget().toPlainText()
    assert win.logPanel.count() == 2
    win.logPanel.setCurrentIndex(0)
    assert win.exitCodeLabel.text().startswith("exit code 0")
    timer.stop()
    recents = [win.recentList.item(i).text() for i in range(win.recentList.count())]
    assert len(recents) == 1 and "exit 3" in recents[0]   # the same launch, moved up
    requests = fake.called("launch")
    assert requests[0].tool == "python" and requests[0].context == SH010


def test_stop_a_running_launch(qtbot, fake, open_window):
    win = open_window(fake, select=SH010, tool="python")
    wait_details(qtbot, win, SH010, "python")
    win.argsEdit.setText(shlex.join(["-c", "import time; print('up', flush=True); "
                                           "time.sleep(60)"]))
    qtbot.mouseClick(win.launchButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "up" in win.logPanel.currentWidget().toPlainText())
    assert win.stopButton.isEnabled()
    # a second launch takes the log panel; Logs on the running list's first row brings
    # the first launch's log back
    first_log = win.logPanel.currentWidget()
    win.argsEdit.setText(shlex.join(["-c", "print('second')"]))
    qtbot.mouseClick(win.launchButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.logPanel.count() == 2
                    and win.logPanel.currentWidget() is not first_log)
    win.runningList.setCurrentRow(0)
    assert win.logsButton.isEnabled()
    qtbot.mouseClick(win.logsButton, Qt.MouseButton.LeftButton)
    assert win.logPanel.currentWidget() is first_log
    qtbot.waitUntil(lambda: win.runningList.count() == 1)   # the second one ended
    win.logPanel.tabCloseRequested.emit(1)
    win.runningList.setCurrentRow(0)
    win.logPanel.setCurrentIndex(0)
    win.logPanel.tabCloseRequested.emit(0)            # a running launch keeps its log
    assert win.logPanel.count() == 1 and "still running" in win.messages[-1]
    qtbot.mouseClick(win.stopButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.runningList.count() == 0)
    assert win.exitCodeLabel.text().startswith("exit code ")
    assert not win.exitCodeLabel.text().startswith("exit code 0")
    win.logPanel.tabCloseRequested.emit(0)            # an ended one can go
    assert win.logPanel.count() == 0 and win.exitCodeLabel.text() == "no launch yet"


def test_ctrl_enter_launches_the_default_tool(qtbot, fake, open_window):
    win = open_window(fake, select=SH010)
    wait_details(qtbot, win, SH010, "blender")
    win.argsEdit.setText("-c pass")
    win.activateWindow()
    qtbot.keyClick(win.contextTree, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: win.exitCodeLabel.text().startswith("exit code 0"))
    assert fake.called("launch")[0].tool == "blender"


def test_arguments_that_do_not_parse_give_a_message(qtbot, fake, open_window):
    win = open_window(fake, select=SH010)
    wait_details(qtbot, win, SH010, "blender")
    win.argsEdit.setText("-c 'unclosed")
    assert win.commandLine.text().startswith("arguments:")
    qtbot.mouseClick(win.launchButton, Qt.MouseButton.LeftButton)
    assert "cannot read the arguments" in win.messages[-1]
    assert fake.called("launch") == []


def test_broken_shot_beside_a_launchable_sibling(qtbot, open_window):
    fake = example_backend()
    bad = "projects/lighthouse/seq020/sh030/landscape.yaml:4:1: packags: unknown key 'packags'"
    fake.folders["projects/lighthouse/seq020/sh030"] = Folder(
        "projects/lighthouse/seq020/sh030", level="shot",
        errors=(bad, "projects/lighthouse/seq020/sh030/landscape.yaml:7:3: fps: not a number"))
    win = open_window(fake, select=L / "seq020/sh030")
    wait_details(qtbot, win, L / "seq020/sh030")
    assert win.errorPanel.isVisible()
    assert win.errorPanel.toPlainText().splitlines() == list(
        fake.folders["projects/lighthouse/seq020/sh030"].errors)
    assert not win.launchButton.isEnabled()
    # the tree marks it
    qtbot.waitUntil(lambda: str(L / "seq020/sh030") in tree_paths(win))
    node = win._find_node(L / "seq020/sh030")
    index = win.tree_model.index_of(node)
    assert index.data(Qt.ItemDataRole.ForegroundRole) is not None
    assert "packags" in index.data(Qt.ItemDataRole.ToolTipRole)
    # the sibling stays launchable
    select(qtbot, win, L / "seq020/sh040", "blender")
    assert not win.errorPanel.isVisible() and win.launchButton.isEnabled()


def test_policy_block_disables_launch_and_names_the_rule(qtbot, open_window):
    fake = example_backend()
    fake.folders["projects/lighthouse/seq020"].policy = \
        "projects/lighthouse/seq020/landscape.yaml:9: policy.allow_gui is false"
    win = open_window(fake, select=L / "seq020/sh040")
    wait_details(qtbot, win, L / "seq020/sh040", "blender")
    assert win.policyStatus.text() == \
        "blocked: projects/lighthouse/seq020/landscape.yaml:9: policy.allow_gui is false"
    assert not win.launchButton.isEnabled()
    select(qtbot, win, SH010, "blender")
    assert win.policyStatus.text() == "allowed" and win.launchButton.isEnabled()


def test_build_progress_to_ready(qtbot, fake, open_window):
    fake.build_gate = threading.Event()
    win = open_window(fake, select=SH010)
    wait_details(qtbot, win, SH010, "blender")
    qtbot.waitUntil(lambda: "missing" in win.imageStatus.text())
    assert win.imageStatus.property("state") == "missing"
    qtbot.mouseClick(win.buildButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.buildProgress.value() == 2)
    assert win.buildProgress.isVisible() and win.buildProgress.maximum() == 3
    assert win.imageStatus.property("state") == "building" and not win.buildButton.isEnabled()
    assert "RUN something 2" in win.buildProgress.format()
    fake.build_gate.set()
    qtbot.waitUntil(lambda: win.imageStatus.property("state") == "ready")
    assert not win.buildProgress.isVisible() and "ready" in win.imageStatus.text()
    assert fake.called("get_image") == [(SH010, False)]


def test_unreachable_engine_gives_messages_not_exceptions(qtbot, fake, open_window):
    fake.engine_down = True
    win = open_window(fake, select=SH010, tool="python")
    wait_details(qtbot, win, SH010, "python")
    qtbot.waitUntil(lambda: win.imageStatus.property("state") == "unknown")
    assert "the Docker engine is not answering" in win.imageStatus.text()
    qtbot.mouseClick(win.pullButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.imageStatus.property("state") == "failed")
    assert "not answering" in win.messages[-1]
    win.argsEdit.setText("-c pass")
    qtbot.mouseClick(win.launchButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.exitCodeLabel.text().startswith("did not start"))
    assert "not answering" in win.messageLabel.text()


def test_missing_root_is_a_message(qtbot, fake, open_window):
    fake.missing_root = True
    win = open_window(fake)
    qtbot.waitUntil(lambda: bool(win.messages))
    assert "the studio root does not exist" in win.messages[0]
    assert win.contextTree.model().rowCount() == 0
    assert not win.launchButton.isEnabled()


def test_a_failing_backend_call_becomes_a_message(qtbot, fake, open_window):
    """The guard: an unexpected exception in a slot is shown, not raised into Qt (pytest-qt
    fails a test when one escapes)."""
    win = open_window(fake, select=SH010)
    wait_details(qtbot, win, SH010, "blender")

    def broken(request):
        raise RuntimeError("command line exploded")

    fake.command_line = broken
    win.argsEdit.setText("x")
    assert "internal error" in win.messages[-1] and "command line exploded" in win.messages[-1]

    def no_details(*a):
        raise KeyError("resolve exploded")

    fake.details = no_details
    win.select_context(SH020)
    qtbot.waitUntil(lambda: win._details.context == SH020 and not win._resolving)
    assert "resolve exploded" in win.errorPanel.toPlainText()
    assert not win.launchButton.isEnabled()


def test_newer_selection_supersedes_an_older_resolve(qtbot, fake, open_window):
    fake.details_delay = 0.3
    slow = L / "seq010/slow"
    win = open_window(fake, select=SH010)
    wait_details(qtbot, win, SH010, "blender")
    win.select_context(slow)
    qtbot.waitUntil(lambda: any(c[0] == slow for c in fake.called("details")))
    win.select_context(L / "seq020/sh030")   # replaced while waiting: never resolved
    win.select_context(SH020)
    wait_details(qtbot, win, SH020, "blender")
    # the slow resolve ended first; its result was dropped
    assert win._details.context == SH020
    assert [b.text() for b in win.breadcrumbs.findChildren(QToolButton)][-1] == "sh020 (shot)"
    assert not any(c[0] == L / "seq020/sh030" for c in fake.called("details"))


def test_ten_thousand_shots_lazily(qtbot, open_window):
    fake = many_shots_backend(10_000)
    seq = ROOT / "big/seq"
    win = open_window(fake, select=ROOT)
    wait_details(qtbot, win, ROOT)
    qtbot.waitUntil(lambda: str(ROOT / "big") in tree_paths(win))
    # nothing below the first level was listed
    assert fake.called("children") == [ROOT]
    win.select_context(seq / "sh09999")
    wait_details(qtbot, win, seq / "sh09999")
    qtbot.waitUntil(lambda: win.contextTree.currentIndex().data(PATH_ROLE)
                    == str(seq / "sh09999"))
    node = win._find_node(seq)
    assert len(node.children) == 10_000
    assert win.contextTree.isExpanded(win.tree_model.index_of(node))
    assert fake.called("children") == [ROOT, ROOT / "big", seq]   # one listing per folder
    # and the filter finds one shot among them through the index
    win.filterEdit.setText("seq sh0999")
    qtbot.waitUntil(lambda: win._filtering)
    assert sorted(tree_paths(win))[-1] == str(seq / "sh09999")
    assert len(tree_paths(win)) == 2 + 10       # big, big/seq and sh09990…sh09999


def test_a_big_folder_shows_its_first_rows_before_its_listing_ends(qtbot, open_window):
    """Listings arrive in batches: rows are in the tree while the folder is still being
    listed, and the end of the listing leaves each row once, in folder order."""
    import threading

    fake = many_shots_backend(1_000)
    seq = ROOT / "big/seq"
    gate = threading.Event()
    real_children = fake.children

    def in_batches(folder, batch=None, update=None):   # the first batch, then the gate
        if Path(folder) != seq:
            return real_children(folder, batch)
        entries = [fake._entry(r) for r in fake._kids[fake._rel(folder)]]
        batch(entries[:100])
        gate.wait(30)
        batch(entries[100:])
        return entries

    fake.children = in_batches
    win = open_window(fake, select=seq / "sh00500")
    qtbot.waitUntil(lambda: win._find_node(seq) is not None
                    and win._find_node(seq).children is not None)
    node = win._find_node(seq)
    qtbot.waitUntil(lambda: len(node.children) == 100)
    assert node.loading
    gate.set()
    qtbot.waitUntil(lambda: not node.loading)
    assert [c.entry.path.name for c in node.children] == [f"sh{i:05d}" for i in range(1_000)]
    assert [c.row for c in node.children] == list(range(1_000))
    qtbot.waitUntil(lambda: win.contextTree.currentIndex().data(PATH_ROLE)
                    == str(seq / "sh00500"))


def test_a_deep_path_does_not_widen_the_details_pane(qtbot, open_window):
    """The breadcrumbs scroll instead of setting the pane's minimum width (a splitter never
    gives back what a minimum took, so a restored layout would not hold), kept at their end
    so the selected context shows."""
    names = ["a-very-long-folder-name-of-a-department"] * 6
    fake = FakeBackend([Folder(""), *(Folder("/".join(names[:n]), level=f"level{n}")
                                      for n in range(1, len(names) + 1))])
    leaf = ROOT.joinpath(*names)
    win = open_window(fake, select=leaf)
    wait_details(qtbot, win, leaf, None)
    qtbot.waitExposed(win)
    win.resize(790, 600)
    qtbot.waitUntil(lambda: win.size().width() == 790)
    right = win.mainSplitter.widget(1)
    assert right.minimumSizeHint().width() < 500
    win.mainSplitter.setSizes([250, win.mainSplitter.width() - 250])
    qtbot.waitUntil(lambda: win.mainSplitter.sizes()[0] == 249 or
                    win.mainSplitter.sizes()[0] == 250)
    last = win.breadcrumbs.findChildren(QToolButton)[-1]
    viewport = win.breadcrumbArea.viewport()
    qtbot.waitUntil(lambda: viewport.rect().contains(
        last.mapTo(viewport, last.rect().topRight()) - QPoint(1, 0)))


def test_recents_and_favourites_survive_a_restart(qtbot, fake, open_window, settings_dir):
    win = open_window(fake, select=SH020, tool="python")
    wait_details(qtbot, win, SH020, "python")
    win.argsEdit.setText("-c pass")
    qtbot.mouseClick(win.launchButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.recentList.count() == 1)
    qtbot.mouseClick(win.favouriteButton, Qt.MouseButton.LeftButton)
    assert win.favouriteButton.isChecked() and win.favouriteButton.text().startswith("★")
    win.favouriteToolAction.trigger()
    select(qtbot, win, SH010, "blender")
    assert not win.favouriteButton.isChecked()
    qtbot.waitExposed(win)
    win.resize(790, 600)    # within the offscreen screen (800×800): restored as it is
    qtbot.waitUntil(lambda: win.size().width() == 790)
    win.mainSplitter.setSizes([250, win.mainSplitter.width() - 250])
    size, sizes = win.size(), win.mainSplitter.sizes()
    win.close()

    again = open_window(fake)                       # same settings folder, no selection
    wait_details(qtbot, again, SH010, "blender")    # the last selection is back
    qtbot.waitExposed(again)                        # and the layout
    qtbot.waitUntil(lambda: again.size() == size and again.mainSplitter.sizes() == sizes)
    assert again.recentList.count() == 1
    assert "sh020 · python · exit 0" in again.recentList.item(0).text()
    favs = [again.favouritesList.item(i).text() for i in range(again.favouritesList.count())]
    assert favs == ["★ projects/lighthouse/seq010/sh020",
                    "★ projects/lighthouse/seq010/sh020 · python"]
    assert again.contextTree.model().rowCount() > 0  # favourites hide nothing
    # double-click a recent: re-selects its context and tool
    again.recentList.itemActivated.emit(again.recentList.item(0))
    wait_details(qtbot, again, SH020, "python")
    assert again.favouriteButton.isChecked()
    # its second action launches it again
    again.relaunch_recent(again.recentList.item(0))
    qtbot.waitUntil(lambda: again.exitCodeLabel.text().startswith("exit code 0"))
    assert len(fake.called("launch")) == 2 and again.recentList.count() == 1
    # a favourite with a tool selects both
    select(qtbot, again, SH010, "blender")
    again.favouritesList.itemActivated.emit(again.favouritesList.item(1))
    wait_details(qtbot, again, SH020, "python")


def test_f5_rereads_expanded_folders_and_the_selection(qtbot, fake, open_window):
    win = open_window(fake, select=SH010)
    wait_details(qtbot, win, SH010, "blender")
    qtbot.waitUntil(lambda: win.contextTree.currentIndex().data(PATH_ROLE) == str(SH010))
    listed = len(fake.called("children"))
    resolved = len(fake.called("details"))
    fake.folders["projects/lighthouse/seq010/sh010"].metadata["fps"] = "48"
    win.activateWindow()
    qtbot.keyClick(win.contextTree, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: len(fake.called("details")) > resolved and not win._resolving)
    assert {r[0]: r[1] for r in table(win, "metadataPanel")}["fps"] == "48"
    qtbot.waitUntil(lambda: len(fake.called("children")) >= 2 * listed)
    qtbot.waitUntil(lambda: win.contextTree.currentIndex().data(PATH_ROLE) == str(SH010))


def test_f5_while_a_folder_is_being_listed(qtbot, open_window):
    """A listing that arrives after F5 replaced the tree is dropped; the folder is listed
    again and the selection comes back."""
    fake = example_backend()
    gate = threading.Event()
    fake.hold_listing = (L / "seq020", gate)
    win = open_window(fake, select=SH010)
    wait_details(qtbot, win, SH010, "blender")
    qtbot.waitUntil(lambda: win.contextTree.currentIndex().data(PATH_ROLE) == str(SH010))
    win._expand_path(L / "seq020")
    qtbot.waitUntil(lambda: L / "seq020" in fake.called("children"))
    win.activateWindow()
    qtbot.keyClick(win.contextTree, Qt.Key.Key_F5)     # while seq020 is being listed
    qtbot.waitUntil(lambda: fake.called("studio").count(None) == 2)
    gate.set()
    qtbot.waitUntil(lambda: str(L / "seq020/sh040") in tree_paths(win))
    qtbot.waitUntil(lambda: win.contextTree.currentIndex().data(PATH_ROLE) == str(SH010))
    assert fake.called("children").count(L / "seq020") == 2


def test_a_huge_context_is_shown_cut_and_the_window_keeps_running(qtbot, open_window):
    """A small file can expand (YAML aliases) to tens of thousands of metadata keys, and a
    value can be megabytes: the tables show at most MAX_ROWS rows and MAX_CELL characters a
    cell, saying how much more there is, so filling them never holds the UI thread."""
    from landscape.gui.window import MAX_CELL, MAX_ROWS

    fake = example_backend()
    shot = "projects/lighthouse/seq010/sh010"
    many = {"big": "x" * 2_000_000, **{f"key{i:06d}": f"value {i}" for i in range(50_000)}}
    fake.folders[shot] = Folder(shot, level="shot", metadata=many)
    win = open_window(fake, select=SH020)
    wait_details(qtbot, win, SH020, "blender")
    win.select_context(SH010)
    wait_details(qtbot, win, SH010, "blender")
    t = win.findChild(QTableWidget, "metadataPanel")
    assert t.rowCount() == MAX_ROWS + 1
    assert t.item(MAX_ROWS, 0).text().endswith(" more (landscape resolve --json shows all)")
    values = {t.item(r, 0).text(): t.item(r, 1) for r in range(MAX_ROWS)}
    assert len(values["big"].text()) == MAX_CELL and values["big"].text().endswith("…")
    assert max(len(v.text()) for v in values.values()) <= MAX_CELL


HOSTILE = "<b>x</b><img src=/etc/passwd>"


def test_hostile_text_is_shown_plain(qtbot, open_window):
    fake = example_backend()
    shot = "projects/lighthouse/seq010/sh010"
    fake.folders[shot] = Folder(shot, name=HOSTILE, label=HOSTILE, level="shot",
                                icon="../../../etc/passwd", metadata={"note": HOSTILE})
    fake.folders["projects/lighthouse/seq010"].policy = HOSTILE
    win = open_window(fake, select=SH010)
    wait_details(qtbot, win, SH010, "blender")
    assert {r[0]: r[1] for r in table(win, "metadataPanel")}["note"] == HOSTILE
    assert win.policyStatus.text() == f"blocked: {HOSTILE}"
    for label in win.findChildren(QLabel):
        assert label.textFormat() == Qt.TextFormat.PlainText, label.objectName()
    qtbot.waitUntil(lambda: str(SH010) in tree_paths(win))
    index = win.tree_model.index_of(win._find_node(SH010))
    title = index.siblingAtColumn(1).data()
    assert title == HOSTILE
    tip = index.data(Qt.ItemDataRole.ToolTipRole)
    assert "<img" not in tip and "&lt;img src=/etc/passwd&gt;" in tip
    assert not index.data(Qt.ItemDataRole.DecorationRole).isNull()   # the default icon
    win.show_message(HOSTILE)
    assert win.messageLabel.text() == HOSTILE
    assert win.messageLabel.textFormat() == Qt.TextFormat.PlainText


def test_plain_tip_escapes_anything(qtbot):
    """Any text in a tooltip renders as itself (whitespace aside): no markup survives."""
    from hypothesis import given, settings, strategies as st

    from landscape.gui.window import plain_tip

    doc = QTextDocument()
    chars = st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))
    text = st.text(st.one_of(chars, st.sampled_from("<>&\"'/= \n")))

    @settings(max_examples=300, deadline=None)
    @given(text)
    def check(text):
        tip = plain_tip(text)
        if not text:
            assert tip == ""
            return
        doc.setHtml(tip)
        assert " ".join(doc.toPlainText().split()) == " ".join(text.split())
        assert "<img" not in doc.toHtml().split("<body", 1)[1].replace("&lt;img", "")

    check()


def test_any_arguments_give_a_command_or_a_message(qtbot, fake, open_window):
    """Whatever is typed as arguments, the command line shows either the command (which
    splits back to exactly those arguments) or why they cannot be read; nothing raises."""
    from hypothesis import given, settings, strategies as st

    win = open_window(fake, select=SH010)
    wait_details(qtbot, win, SH010, "blender")

    @settings(max_examples=200, deadline=None)
    @given(st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")))
    def check(text):
        win.argsEdit.setText(text)
        shown = win.commandLine.text()
        try:
            args = shlex.split(text)
        except ValueError:
            assert shown.startswith("arguments: ")
            return
        argv = shlex.split(shown)
        assert argv[:5] == ["landscape", "launch", str(SH010), "--tool", "blender"]
        assert argv[6:] == args if args else len(argv) == 5

    before = len(win.messages)
    check()
    assert len(win.messages) == before


def test_the_window_never_runs_a_process():
    """The launcher calls the library (its Backend), never ``landscape`` as a process."""
    import landscape.gui.app as app_module
    import landscape.gui.window as window_module

    for module in (window_module, app_module):
        text = Path(module.__file__).read_text()
        if module is app_module:  # its one child: Python setting up Qt on the display
            assert text.count("subprocess.run(") == 1
            assert 'subprocess.run([sys.executable, "-c", _PROBE]' in text
            assert "landscape" not in app_module._PROBE.replace("landscape-probe", "")
            text = text.replace("subprocess", "")
        for word in ("subprocess", "os.system", "os.exec", "os.spawn", "QProcess", "Popen"):
            assert word not in text, (module.__name__, word)
