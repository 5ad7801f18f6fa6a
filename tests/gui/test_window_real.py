"""The launcher window over the real Backend (real cascades and rez solves on the example
studio; no Docker needed): provenance, per-shot packages, a context variant, a broken shot
beside a launchable sibling, hostile names, a missing root and an unreachable engine."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from landscape.gui.backend import Backend

from .test_window import HOSTILE, table, tree_paths, wait_details

SEQ = "projects/lighthouse/seq010"


def rows(win, name: str) -> dict[str, list[str]]:
    return {r[0]: r for r in table(win, name)}


def test_real_provenance_and_per_shot_packages(qtbot, example, open_window):
    win = open_window(Backend(example), select=example / SEQ / "sh020", tool="blender",
                      root=example)
    wait_details(qtbot, win, example / SEQ / "sh020", "blender")
    meta = rows(win, "metadataPanel")
    assert meta["resolution"][1] == "[640, 272]"
    assert meta["resolution"][2].startswith(f"{SEQ}/sh020/landscape.yaml:")
    assert meta["fps"][1] == "25"
    assert meta["fps"][2].startswith("projects/lighthouse/landscape.yaml:")
    pk = rows(win, "packagesTable")
    assert pk["studio_pipeline"][1] == "1.0.0"
    assert pk["studio_pipeline"][2].startswith(f"{SEQ}/sh020/landscape.yaml:")
    assert win.launchButton.isEnabled() and win.policyStatus.text() == "allowed"
    assert win.commandLine.text() == \
        f"landscape launch {example / SEQ / 'sh020'} --tool blender --root {example}"

    win.select_context(example / SEQ / "sh010")
    wait_details(qtbot, win, example / SEQ / "sh010", "blender")
    pk = rows(win, "packagesTable")
    assert pk["studio_pipeline"][1] == "1.1.0"
    assert pk["studio_pipeline"][2].startswith("projects/lighthouse/landscape.yaml:")
    assert rows(win, "metadataPanel")["resolution"][1] == "[960, 540]"


def test_real_context_variant_changes_metadata(qtbot, example, open_window):
    shot = example / SEQ / "sh010"
    win = open_window(Backend(example), select=shot, tool="blender", root=example)
    wait_details(qtbot, win, shot, "blender")
    assert rows(win, "metadataPanel")["render.samples"][1] == "8"
    i = win.contextVariantCombo.findData("lighting")
    assert i > 0
    win.contextVariantCombo.setCurrentIndex(i)
    win.contextVariantCombo.activated.emit(i)
    qtbot.waitUntil(lambda: win._details.variants == ("lighting",) and not win._resolving,
                    timeout=60_000)
    samples = rows(win, "metadataPanel")["render.samples"]
    assert samples[1] == "32"
    assert samples[2].startswith("projects/lighthouse/landscape.lighting.yaml:")


def test_real_broken_shot_beside_a_launchable_sibling(qtbot, example, open_window):
    broken = example / "projects/lighthouse/seq020/sh030"
    (broken / "landscape.yaml").write_text("schema: landscape/v1\nlevel: shot\n"
                                           "packags: [x]\nmetadata: [1, 2\n")
    win = open_window(Backend(example), select=broken, tool="blender", root=example)
    wait_details(qtbot, win, broken)
    assert win.errorPanel.isVisible() and not win.launchButton.isEnabled()
    lines = win.errorPanel.toPlainText().splitlines()
    assert lines and all(":" in line for line in lines)
    assert any("seq020/sh030/landscape.yaml:" in line for line in lines)
    qtbot.waitUntil(lambda: str(broken) in tree_paths(win), timeout=30_000)
    node = win._find_node(broken)      # its row is first shown by name, then read: red
    qtbot.waitUntil(lambda: not node.entry.outline)
    index = win.tree_model.index_of(node)
    assert index.data(Qt.ItemDataRole.ForegroundRole) is not None
    sibling = example / "projects/lighthouse/seq020/sh040"
    win.select_context(sibling)
    wait_details(qtbot, win, sibling, "blender")
    assert not win.errorPanel.isVisible() and win.launchButton.isEnabled()


def test_real_hostile_name_is_plain(qtbot, example, open_window):
    shot = example / SEQ / "sh010"
    (shot / "landscape.yaml").write_text(
        f"schema: landscape/v1\nlevel: shot\nname: {HOSTILE!r}\n"
        f"metadata: {{label: {HOSTILE!r}, note: {HOSTILE!r}}}\n".replace("'", '"'))
    win = open_window(Backend(example), select=shot, tool="blender", root=example)
    wait_details(qtbot, win, shot, "blender")
    assert rows(win, "metadataPanel")["note"][1] == HOSTILE
    qtbot.waitUntil(lambda: str(shot) in tree_paths(win), timeout=30_000)
    node = win._find_node(shot)        # its row is first shown by name, then read
    qtbot.waitUntil(lambda: not node.entry.outline)
    index = win.tree_model.index_of(node)
    assert index.siblingAtColumn(1).data() == HOSTILE
    assert all(label.textFormat() == Qt.TextFormat.PlainText
               for label in win.findChildren(QLabel))


def test_real_missing_root_is_a_message(qtbot, tmp_path, open_window):
    win = open_window(Backend(tmp_path / "nowhere"), root=tmp_path / "nowhere")
    qtbot.waitUntil(lambda: bool(win.messages), timeout=30_000)
    assert "nowhere: the studio root does not exist" in win.messages[0]
    assert win.messageLabel.isVisible() and not win.launchButton.isEnabled()


def test_real_unreachable_engine_is_a_message(qtbot, example, open_window, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")   # nothing listens there
    shot = example / SEQ / "sh010"
    win = open_window(Backend(example), select=shot, tool="python", root=example)
    wait_details(qtbot, win, shot, "python")
    qtbot.waitUntil(lambda: win.imageStatus.property("state") == "unknown", timeout=120_000)
    assert "unknown:" in win.imageStatus.text()
    win.argsEdit.setText("-c pass")
    qtbot.mouseClick(win.launchButton, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.exitCodeLabel.text().startswith(("did not start", "exit")),
                    timeout=120_000)
    assert win.exitCodeLabel.text().startswith("did not start")
    assert win.messages


def test_real_failing_solve_names_the_request(qtbot, example, open_window):
    shot = example / SEQ / "sh010"
    (shot / "landscape.yaml").write_text("schema: landscape/v1\nlevel: shot\n"
                                         "packages: [no_such_package]\n")
    win = open_window(Backend(example), select=shot, tool="python", root=example)
    wait_details(qtbot, win, shot)
    text = win.errorPanel.toPlainText()
    assert "no_such_package" in text and not win.launchButton.isEnabled()
    sibling = example / SEQ / "sh020"
    win.select_context(sibling)
    wait_details(qtbot, win, sibling, "python")
    assert win.launchButton.isEnabled()


def test_real_f5_shows_an_edited_file(qtbot, example, open_window):
    shot = example / SEQ / "sh010"
    win = open_window(Backend(example), select=shot, tool="python", root=example)
    wait_details(qtbot, win, shot, "python")
    assert rows(win, "metadataPanel")["fps"][1] == "25"
    (shot / "landscape.yaml").write_text("schema: landscape/v1\nlevel: shot\n"
                                         "metadata: {fps: 48}\n")
    win.activateWindow()
    qtbot.keyClick(win.contextTree, Qt.Key.Key_F5)
    qtbot.waitUntil(lambda: not win._resolving
                    and rows(win, "metadataPanel")["fps"][1] == "48", timeout=60_000)
    assert rows(win, "metadataPanel")["fps"][2] == f"{SEQ}/sh010/landscape.yaml:3"


def test_real_big_folder_shows_every_row_before_its_files_are_read(qtbot, tmp_path,
                                                                    open_window, monkeypatch):
    """Expanding a folder of 1,000 shots over the real Backend: every row is in the tree,
    with its folder name, while no shot's file is read yet (the reads held at a gate);
    then the titles arrive in place, row by row, and the listing ends with the same rows."""
    import threading

    from landscape import browse

    root = tmp_path / "studio"
    seq = root / "p/seq"
    seq.mkdir(parents=True)
    (root / "landscape.yaml").write_text("root: true\n")
    (root / "p/landscape.yaml").write_text("level: project\n")
    (seq / "landscape.yaml").write_text("level: sequence\n")
    for i in range(1_000):
        (seq / f"sh{i:04d}").mkdir()
        (seq / f"sh{i:04d}/landscape.yaml").write_text(
            f"level: shot\nmetadata: {{label: Title {i}}}\n")
    gate = threading.Event()
    real_entry = browse._entry

    def held(path, *args, **kwargs):
        if path.parent == seq:
            gate.wait(60)
        return real_entry(path, *args, **kwargs)

    monkeypatch.setattr(browse, "_entry", held)
    win = open_window(Backend(root), select=root, root=root)
    qtbot.waitUntil(lambda: win.tree_model.studio_node() is not None)
    win._expand_path(seq)
    qtbot.waitUntil(lambda: win._find_node(seq) is not None
                    and len(win._find_node(seq).children or ()) == 1_000)
    node = win._find_node(seq)
    parent = win.tree_model.index_of(node)
    first = win.tree_model.index(0, 0, parent)
    assert node.loading and first.data() == "sh0000"
    assert win.tree_model.index(0, 1, parent).data() == ""      # not read yet
    gate.set()
    qtbot.waitUntil(lambda: not node.loading)
    assert [c.entry.path.name for c in node.children] == [f"sh{i:04d}" for i in range(1_000)]
    assert win.tree_model.index(999, 1, parent).data() == "Title 999"
    assert win.tree_model.index(5, 2, parent).data() == "shot"
    assert not any(c.entry.outline for c in node.children)
