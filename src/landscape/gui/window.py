"""The launcher window: a lazy tree of the studio, the selected context's details and its
launches, over a :class:`~landscape.gui.backend.Backend` (or any object with its methods).

:func:`make_window` builds it; tests drive it through the widgets' ``objectName``\\ s listed
in ``docs/gui.md``. Rules the window keeps:

- Long work (listing folders, building the search index, resolving, image state, build,
  pull, launch) runs in worker threads; results come back to the UI thread through one
  queued signal (:class:`_Bridge`). A result of a superseded request is dropped.
- Every slot is guarded (:func:`_guarded`): an exception becomes a message in the window
  (``messageLabel``), never an exception escaping into Qt.
- Text from config files is shown as plain text: labels use ``Qt.PlainText``, tooltips are
  escaped, button and tab texts double ``&``.
- Icons come from the icon theme or Qt's standard icons by name only, never from a file.
"""

from __future__ import annotations

import functools
import html
import itertools
import os
import re
import shlex
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from PySide6.QtCore import (QAbstractItemModel, QByteArray, QModelIndex, QObject, Qt, QTimer,
                            Signal)
from PySide6.QtGui import (QAction, QBrush, QColor, QFont, QIcon, QKeySequence, QShortcut,
                           QStandardItem, QStandardItemModel, QTextCharFormat, QTextCursor)
from PySide6.QtWidgets import (QAbstractItemView, QApplication, QComboBox, QFormLayout,
                               QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QListWidget, QListWidgetItem, QMainWindow, QMenu,
                               QPlainTextEdit, QProgressBar, QPushButton, QScrollArea,
                               QSizePolicy, QSplitter, QStyle, QTableWidget,
                               QTableWidgetItem, QTabWidget, QToolButton, QTreeView,
                               QVBoxLayout, QWidget)

from ..browse import folder_order
from ..policy import under
from .model import ContextDetails, ImageState, LaunchRequest, LaunchResult

#: Item data role carrying a tree row's absolute context path (``str``).
PATH_ROLE = Qt.ItemDataRole.UserRole + 1
#: Item data role carrying a list row's payload (a recent or favourite, a launch id).
DATA_ROLE = Qt.ItemDataRole.UserRole + 2

#: Metadata keys shown first, in this order (the typed rows: rate, size, frame range).
TYPED_KEYS = ("fps", "resolution", "frames", "frame_range", "frame_start", "frame_end")
_ICON_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
_RED = QColor(200, 40, 40)
_GREY = QColor(130, 130, 130)


# -- helpers -----------------------------------------------------------------------------

def plain_tip(text: str) -> str:
    """A tooltip showing ``text`` literally: tooltips guess rich text, so the text is
    escaped inside an explicit ``<qt>`` document (lines kept)."""
    if not text:
        return ""
    return "<qt>" + html.escape(text).replace("\n", "<br>") + "</qt>"


def _amp(text: str) -> str:
    """Text for a button or tab: ``&`` would become a mnemonic, so it is doubled."""
    return text.replace("&", "&&")


def _label(text: str = "", name: str | None = None, *, wrap: bool = False) -> QLabel:
    """A plain-text label (never rich text), selectable so values can be copied."""
    w = QLabel()
    w.setTextFormat(Qt.TextFormat.PlainText)
    w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    w.setWordWrap(wrap)
    w.setText(text)
    if name:
        w.setObjectName(name)
    return w


def theme_icon(name: str | None, fallback: QIcon) -> QIcon:
    """The icon named ``name`` in the icon theme, or Qt's standard icon ``SP_…``; ``fallback``
    for anything else. Never reads a file: a name with ``/`` or other path characters is
    refused."""
    if not name or not _ICON_NAME.match(name):
        return fallback
    if name.startswith("SP_"):
        sp = getattr(QStyle.StandardPixmap, name, None)
        app = QApplication.instance()
        if sp is not None and app is not None:
            return app.style().standardIcon(sp)
        return fallback
    icon = QIcon.fromTheme(name)
    return fallback if icon.isNull() else icon


def _short_error(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    first = text[0] if text else ""
    from ..errors import LandscapeError

    if isinstance(e, LandscapeError):
        return str(e).strip() or type(e).__name__
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def _guarded(method: Callable) -> Callable:
    """Wrap a window method called by Qt: an exception becomes a message in the window."""

    @functools.wraps(method)
    def wrapper(self: "LauncherWindow", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as e:  # noqa: BLE001 - the guard: nothing escapes into Qt
            self.report(e, where=method.__name__)
            return None

    return wrapper


class _Bridge(QObject):
    """Carries callables from worker threads to the UI thread (queued connection)."""

    call = Signal(object)


def _table(name: str, headers: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(headers))
    t.setObjectName(name)
    t.setHorizontalHeaderLabels(headers)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    t.setAlternatingRowColors(True)
    t.verticalHeader().setVisible(False)
    t.verticalHeader().setDefaultSectionSize(22)
    t.setWordWrap(False)
    h = t.horizontalHeader()
    h.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    h.setSectionResizeMode(len(headers) - 1, QHeaderView.ResizeMode.Stretch)
    return t


#: the most rows a details table shows (a small file can expand, through YAML aliases, to
#: tens of thousands of keys; filling a table is UI-thread work), characters a cell shows
#: and characters a tooltip shows
MAX_ROWS = 500
MAX_CELL = 300
MAX_TIP = 2000


def cut(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ``…`` marking the cut."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _fill(table: QTableWidget, items: Sequence[Any], cells: Callable[[Any], list[str]],
          tip: Callable[[Any], str], total: int | None = None) -> None:
    """Fill ``table`` with plain-text items, one row per item of ``items`` (its
    ``cells(item)``; its tooltip, the provenance, ``tip(item)``). At most :data:`MAX_ROWS`
    rows are made, a last row then saying how many more of the ``total`` (default:
    ``len(items)``) there are; cells are cut to :data:`MAX_CELL` characters (a tooltip
    holds the value to :data:`MAX_TIP`)."""
    shown = items[:MAX_ROWS]
    rows, tips = [cells(i) for i in shown], [tip(i) for i in shown]
    more = (len(items) if total is None else total) - len(shown)
    table.setUpdatesEnabled(False)
    try:
        table.clearSpans()
        table.setRowCount(len(shown) + (1 if more > 0 else 0))
        for r, row in enumerate(rows):
            for c, text in enumerate(row):
                item = QTableWidgetItem(cut(text, MAX_CELL))
                if tips[r] or len(text) > MAX_CELL:
                    item.setToolTip(plain_tip(cut(tips[r] or text, MAX_TIP)))
                table.setItem(r, c, item)
        if more > 0:
            item = QTableWidgetItem(f"… {more:,} more (landscape resolve --json shows all)")
            item.setForeground(QBrush(_GREY))
            table.setItem(len(shown), 0, item)
            table.setSpan(len(shown), 0, 1, table.columnCount())
        for c in range(table.columnCount() - 1):
            table.resizeColumnToContents(c)
            if table.columnWidth(c) > 440:
                table.setColumnWidth(c, 440)
    finally:
        table.setUpdatesEnabled(True)


# -- the lazy tree -----------------------------------------------------------------------

class _Node:
    __slots__ = ("entry", "parent", "children", "loading", "row", "waiters")

    def __init__(self, entry: Any, parent: "_Node | None", row: int) -> None:
        self.entry = entry
        self.parent = parent
        self.row = row
        self.children: list[_Node] | None = None
        self.loading = False
        self.waiters: list[Callable[[], None]] = []


class StudioTreeModel(QAbstractItemModel):
    """The studio as a lazy tree: a folder's children are asked for (``request``) only when
    the view wants them (``canFetchMore``/``fetchMore``), listed in a worker thread by the
    window, and inserted when they arrive (:meth:`set_children`).

    Columns: folder name (with icon; red and a warning icon when the entry has errors),
    title (``metadata.label``, else the config's ``name`` when it differs from the
    folder's), level."""

    HEADERS = ("Context", "Title", "Level")

    def __init__(self, request: Callable[[_Node], None], parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._root = _Node(None, None, 0)
        self._root.children = []
        self._retired: _Node | None = None
        self._request = request
        app = QApplication.instance()
        style = app.style() if app else None
        self._folder = style.standardIcon(QStyle.StandardPixmap.SP_DirIcon) if style else QIcon()
        self._warn = (style.standardIcon(QStyle.StandardPixmap.SP_MessageBoxWarning)
                      if style else QIcon())
        self._icons: dict[str | None, QIcon] = {}

    # shape
    def set_studio(self, entry: Any) -> None:
        """Show ``entry`` (a BrowseEntry) as the one top row, its children not listed yet
        (also F5: everything is listed again as it is wanted).

        Indexes point at nodes without holding them, so the previous tree is kept alive
        until the next reset (views have dropped its indexes by then); a listing of one of
        its folders that arrives late is ignored (:meth:`set_children`)."""
        self.beginResetModel()
        self._retired = self._root
        self._root = _Node(None, None, 0)
        self._root.children = [_Node(entry, self._root, 0)]
        self.endResetModel()

    def is_live(self, node: _Node) -> bool:
        """Whether ``node`` belongs to the tree shown now (not to one replaced by F5)."""
        while node.parent is not None:
            node = node.parent
        return node is self._root

    def studio_node(self) -> _Node | None:
        """The top row's node (the studio), ``None`` before :meth:`set_studio`."""
        return self._root.children[0] if self._root.children else None

    def node(self, index: QModelIndex) -> _Node:
        """The node of ``index`` (the invisible root for an invalid index)."""
        return index.internalPointer() if index.isValid() else self._root

    def index_of(self, node: _Node) -> QModelIndex:
        """The column-0 index of ``node`` (invalid for the invisible root)."""
        if node is self._root or node.parent is None:
            return QModelIndex()
        return self.createIndex(node.row, 0, node)

    def add_children(self, node: _Node, entries: list[Any]) -> None:
        """Append ``entries`` (a batch of a listing still running, in
        :func:`landscape.browse.folder_order`) to ``node``'s rows, so a big folder shows its
        first rows at once; :meth:`set_children` ends the listing."""
        if not self.is_live(node) or not node.loading or not entries:
            return
        have = node.children or []
        parent = self.index_of(node)
        self.beginInsertRows(parent, len(have), len(have) + len(entries) - 1)
        node.children = have + [_Node(e, node, len(have) + i) for i, e in enumerate(entries)]
        self.endInsertRows()

    def update_children(self, node: _Node, entries: list[Any]) -> None:
        """Put ``entries`` (finished entries of a listing still running, each for a row
        :meth:`add_children` added as an outline) in place of the rows of the same path,
        repainting those rows."""
        if not self.is_live(node) or not node.loading or not node.children or not entries:
            return
        by_path = {c.entry.path: c for c in node.children}
        changed = []
        for e in entries:
            child = by_path.get(e.path)
            if child is not None:
                child.entry = e
                changed.append(child.row)
        if changed:
            parent = self.index_of(node)
            self.dataChanged.emit(self.index(min(changed), 0, parent),
                                  self.index(max(changed), len(self.HEADERS) - 1, parent))

    def set_children(self, node: _Node, entries: list[Any]) -> None:
        """Insert ``entries`` (BrowseEntry list) as ``node``'s children and run its waiters
        (nothing for a node of a replaced tree). Rows already added by batches
        (:meth:`add_children`) are kept when they are the same entries, else replaced."""
        node.loading = False
        if not self.is_live(node):
            node.waiters = []
            return
        parent = self.index_of(node)
        entries = sorted(entries, key=lambda e: folder_order(e.path.name))
        if node.children is not None:  # batches came first
            if [c.entry.path for c in node.children] == [e.path for e in entries]:
                changed = [c.row for c, e in zip(node.children, entries) if c.entry != e]
                for c, e in zip(node.children, entries):  # already shown: the final entries
                    c.entry = e
                if changed:
                    self.dataChanged.emit(self.index(changed[0], 0, parent),
                                          self.index(changed[-1], len(self.HEADERS) - 1,
                                                     parent))
                self._done(node)
                return
            if node.children:
                self.beginRemoveRows(parent, 0, len(node.children) - 1)
                node.children = None
                self.endRemoveRows()
        if entries:
            self.beginInsertRows(parent, 0, len(entries) - 1)
            node.children = [_Node(e, node, i) for i, e in enumerate(entries)]
            self.endInsertRows()
        else:
            node.children = []
            if parent.isValid():
                self.dataChanged.emit(parent, parent)
        self._done(node)

    def _done(self, node: _Node) -> None:
        """Run ``node``'s waiters: its listing has ended."""
        waiters, node.waiters = node.waiters, []
        for w in waiters:
            w()

    def ensure(self, node: _Node, then: Callable[[], None]) -> None:
        """Run ``then`` once ``node``'s children are listed (now, or when they arrive)."""
        if node.children is not None and not node.loading:
            then()
            return
        node.waiters.append(then)
        if not node.loading:
            node.loading = True
            self._request(node)

    # QAbstractItemModel
    def index(self, row: int, column: int, parent: QModelIndex = QModelIndex()) -> QModelIndex:
        node = self.node(parent)
        if node.children is None or not 0 <= row < len(node.children):
            return QModelIndex()
        return self.createIndex(row, column, node.children[row])

    def parent(self, index: QModelIndex | None = None) -> Any:  # type: ignore[override]
        if index is None:
            return super().parent()
        if not index.isValid():
            return QModelIndex()
        node: _Node = index.internalPointer()
        p = node.parent
        if p is None or p is self._root:
            return QModelIndex()
        return self.createIndex(p.row, 0, p)

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:
        if parent.isValid() and parent.column() != 0:
            return 0
        node = self.node(parent)
        return len(node.children) if node.children else 0

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:
        return len(self.HEADERS)

    def hasChildren(self, parent: QModelIndex = QModelIndex()) -> bool:
        node = self.node(parent)
        if node.children is None:
            return bool(node.entry is not None and node.entry.has_children)
        return bool(node.children)

    def canFetchMore(self, parent: QModelIndex) -> bool:
        node = self.node(parent)
        return (node.children is None and not node.loading and node.entry is not None
                and bool(node.entry.has_children))

    def fetchMore(self, parent: QModelIndex) -> None:
        node = self.node(parent)
        if node.children is None and not node.loading:
            node.loading = True
            self._request(node)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        e = index.internalPointer().entry
        col = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return e.path.name or str(e.path)
            if col == 1:
                if e.label:
                    return e.label
                return e.name if e.name != e.path.name else ""
            return e.level or ""
        if role == PATH_ROLE:
            return str(e.path)
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            if e.errors:
                return self._warn
            if e.icon not in self._icons:
                self._icons[e.icon] = theme_icon(e.icon, self._folder)
            return self._icons[e.icon]
        if role == Qt.ItemDataRole.ForegroundRole and e.errors:
            return QBrush(_RED)
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [str(e.path)] + [f"{e.level}: {e.name}" if e.level else e.name]
            lines += list(e.errors)
            return plain_tip("\n".join(lines))
        return None


# -- launches ----------------------------------------------------------------------------

def _last_line(log: QPlainTextEdit, text: str) -> None:
    """Put ``text`` on a line of its own at the end of ``log``, in the plain format (on the
    empty line a tool's last newline left, else on a new one)."""
    cursor = QTextCursor(log.document())
    cursor.movePosition(QTextCursor.MoveOperation.End)
    if cursor.block().text():
        cursor.insertBlock()
    cursor.insertText(text, QTextCharFormat())
    log.setTextCursor(cursor)
    log.ensureCursorVisible()


@dataclass
class _Launch:
    number: int
    request: LaunchRequest
    stop: threading.Event
    log: QPlainTextEdit
    item: QListWidgetItem
    started: float
    result: LaunchResult | None = None
    buffer: list[tuple[str, str]] = field(default_factory=list)
    pending: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


# -- the window --------------------------------------------------------------------------

class LauncherWindow(QMainWindow):
    """The launcher's main window. Build it with :func:`make_window`."""

    def __init__(self, root: Path | None, backend: Any, settings: Any,
                 select: Path | None = None, tool: str | None = None,
                 fallback: Path | None = None) -> None:
        super().__init__()
        self.setObjectName("launcherWindow")
        self.setWindowTitle("Landscape")
        self.backend = backend
        self.settings = settings
        self.root = Path(root).absolute() if root else None    # the studio, once loaded
        self._given_root = self.root                            # --root: sent with launches
        self.messages: list[str] = []
        self._bridge = _Bridge(self)
        self._bridge.call.connect(self._run_posted, Qt.ConnectionType.QueuedConnection)
        self._closing = threading.Event()

        # selection state
        self._context: Path | None = None
        self._tool: str | None = tool
        self._variants: tuple[str, ...] = ()
        self._details: ContextDetails | None = None
        self._token = 0            # newest details request
        self._lane_lock = threading.Lock()
        self._lane_next: tuple | None = None
        self._lane_busy = False
        self._image_token = 0
        self._resolving = False
        self._building = False
        self._index: Any = None
        self._index_ready = False
        self._index_building = False
        self._index_generation = 0
        self._listings = 0         # folders being listed
        self._filtering = False
        self._filter_note = ""  # "N matches" of the filter shown, kept over resolves
        self._launches: dict[int, _Launch] = {}
        self._launch_count = 0

        self._build_ui()
        self._shortcuts()
        self._restore_layout()
        self._refresh_lists()
        msg = getattr(settings, "message", None)
        if msg:
            self.show_message(str(msg))

        start = Path(select).absolute() if select else self._last_selection()
        if start is None and fallback is not None:
            start = Path(fallback).absolute()
        if start is not None:
            self.select_context(start)
        self._load_studio()

    # -- plumbing ------------------------------------------------------------------------

    def post(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the UI thread (callable from any thread; dropped once the window
        is gone)."""
        if self._closing.is_set():
            return
        try:
            self._bridge.call.emit(fn)
        except RuntimeError:  # the window was deleted
            pass

    @_guarded
    def _run_posted(self, fn: Callable[[], None]) -> None:
        fn()

    def spawn(self, work: Callable[[], Any], done: Callable[[Any], None],
              failed: Callable[[str], None] | None = None, name: str = "worker") -> None:
        """Run ``work()`` in a daemon thread; ``done(result)`` or ``failed(message)`` run on
        the UI thread (``failed`` defaults to showing the message)."""

        def run() -> None:
            try:
                result = work()
            except Exception as e:  # noqa: BLE001 - becomes a message in the window
                message = _short_error(e)
                self.post(lambda: (failed or self.show_message)(message))
                return
            self.post(lambda: done(result))

        threading.Thread(target=run, name=f"landscape-gui-{name}", daemon=True).start()

    def report(self, e: BaseException, where: str = "") -> None:
        """Show an unexpected exception as a message (the slot guard's end)."""
        text = _short_error(e)
        if not _is_user_error(e):
            text = f"internal error in {where}: {text}" if where else f"internal error: {text}"
            if os.environ.get("LANDSCAPE_DEBUG"):   # --debug: the traceback on stderr
                traceback.print_exception(e)
        self.show_message(text)

    def show_message(self, text: str) -> None:
        """Show ``text`` in the message bar (plain text) and keep it in :attr:`messages`."""
        self.messages.append(text)
        self.messageLabel.setText(text)
        self.messageBar.setVisible(True)
        self.statusBar().showMessage(text.splitlines()[0] if text else "", 15000)

    # -- building the widgets ------------------------------------------------------------

    def _build_ui(self) -> None:
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(8, 6, 8, 4)
        outer.setSpacing(6)

        # top bar: filter, refresh
        top = QHBoxLayout()
        self.filterEdit = QLineEdit()
        self.filterEdit.setObjectName("filterEdit")
        self.filterEdit.setPlaceholderText("Filter contexts: terms of the path, e.g. seq010 sh0"
                                           "   (Ctrl+F; Esc clears)")
        self.filterEdit.setClearButtonEnabled(True)
        self.filterEdit.textChanged.connect(self._on_filter)
        self.filterEdit.returnPressed.connect(self._on_filter_enter)
        self.refreshButton = QPushButton("Reload (F5)")
        self.refreshButton.setObjectName("refreshButton")
        self.refreshButton.clicked.connect(self._on_refresh)
        top.addWidget(self.filterEdit, 1)
        top.addWidget(self.refreshButton)
        outer.addLayout(top)

        # message bar (plain text)
        self.messageBar = QWidget()
        mb = QHBoxLayout(self.messageBar)
        mb.setContentsMargins(6, 2, 6, 2)
        self.messageLabel = _label("", "messageLabel", wrap=True)
        self.messageLabel.setStyleSheet("color: #8a4b00;")
        close = QToolButton()
        close.setText("×")
        close.setAutoRaise(True)
        close.clicked.connect(lambda: self.messageBar.setVisible(False))
        mb.addWidget(self.messageLabel, 1)
        mb.addWidget(close)
        self.messageBar.setStyleSheet("background: #fff4d6; border-radius: 3px;")
        self.messageBar.setVisible(False)
        outer.addWidget(self.messageBar)

        self.mainSplitter = QSplitter(Qt.Orientation.Horizontal)
        self.mainSplitter.setObjectName("mainSplitter")
        self.mainSplitter.setChildrenCollapsible(False)
        outer.addWidget(self.mainSplitter, 1)

        # left: tree, favourites / recents
        left = QSplitter(Qt.Orientation.Vertical)
        left.setObjectName("leftSplitter")
        self.leftSplitter = left
        self.contextTree = QTreeView()
        self.contextTree.setObjectName("contextTree")
        self.contextTree.setUniformRowHeights(True)
        self.contextTree.setExpandsOnDoubleClick(False)   # activated toggles (Enter too)
        self.contextTree.setAlternatingRowColors(True)
        self.contextTree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.contextTree.activated.connect(self._on_activated)
        self.tree_model = StudioTreeModel(self._request_children, self)
        self._set_tree_model(self.tree_model)
        left.addWidget(self.contextTree)

        self.sideTabs = QTabWidget()
        self.favouritesList = QListWidget()
        self.favouritesList.setObjectName("favouritesList")
        self.favouritesList.itemActivated.connect(self._on_favourite_activated)
        self.recentList = QListWidget()
        self.recentList.setObjectName("recentList")
        self.recentList.itemActivated.connect(self._on_recent_activated)
        self.recentList.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.recentList.customContextMenuRequested.connect(self._on_recent_menu)
        self.sideTabs.addTab(self.favouritesList, "Favourites")
        self.sideTabs.addTab(self.recentList, "Recent")
        left.addWidget(self.sideTabs)
        left.setStretchFactor(0, 3)
        left.setStretchFactor(1, 1)
        self.mainSplitter.addWidget(left)

        # right
        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 0, 0, 0)
        rl.setSpacing(6)

        head = QHBoxLayout()
        self.breadcrumbs = QWidget()
        self.breadcrumbs.setObjectName("breadcrumbs")
        self._crumbs = QHBoxLayout(self.breadcrumbs)
        self._crumbs.setContentsMargins(0, 0, 0, 0)
        self._crumbs.setSpacing(2)
        # A deep path must not widen the pane (a splitter never gives back what a minimum
        # took): the crumbs scroll, kept at their end, so the selected context shows.
        self.breadcrumbArea = QScrollArea()
        self.breadcrumbArea.setObjectName("breadcrumbArea")
        self.breadcrumbArea.setWidgetResizable(True)
        self.breadcrumbArea.setFrameShape(QScrollArea.Shape.NoFrame)
        self.breadcrumbArea.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.breadcrumbArea.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.breadcrumbArea.setWidget(self.breadcrumbs)
        probe = QToolButton()          # the crumbs' height: one auto-raised tool button's
        probe.setAutoRaise(True)
        probe.setText("Ag")
        self.breadcrumbArea.setFixedHeight(probe.sizeHint().height())
        probe.deleteLater()
        bar = self.breadcrumbArea.horizontalScrollBar()
        bar.rangeChanged.connect(lambda _lo, hi: bar.setValue(hi))
        head.addWidget(self.breadcrumbArea, 1)
        self.resolveStatus = _label("", "resolveStatus")
        self.resolveStatus.setStyleSheet("color: #777;")
        head.addWidget(self.resolveStatus)
        self.favouriteButton = QToolButton()
        self.favouriteButton.setObjectName("favouriteButton")
        self.favouriteButton.setCheckable(True)
        self.favouriteButton.setText("☆ Favourite")
        self.favouriteButton.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.favouriteButton.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.favouriteButton.clicked.connect(self._on_favourite)
        fav_menu = QMenu(self.favouriteButton)
        self.favouriteToolAction = QAction("Favourite this context with its tool", self)
        self.favouriteToolAction.setObjectName("favouriteToolAction")
        self.favouriteToolAction.setCheckable(True)
        self.favouriteToolAction.triggered.connect(self._on_favourite_tool)
        fav_menu.addAction(self.favouriteToolAction)
        self.favouriteButton.setMenu(fav_menu)
        head.addWidget(self.favouriteButton)
        rl.addLayout(head)

        self.errorPanel = QPlainTextEdit()
        self.errorPanel.setObjectName("errorPanel")
        self.errorPanel.setReadOnly(True)
        self.errorPanel.setMaximumHeight(110)
        self.errorPanel.setStyleSheet("QPlainTextEdit { color: #b00020; background: #fff0f0; }")
        self.errorPanel.setVisible(False)
        rl.addWidget(self.errorPanel)

        self.rightSplitter = QSplitter(Qt.Orientation.Vertical)
        self.rightSplitter.setObjectName("rightSplitter")
        self.rightSplitter.setChildrenCollapsible(False)
        rl.addWidget(self.rightSplitter, 1)

        # upper right: launch box | context box
        upper = QWidget()
        uv = QVBoxLayout(upper)
        uv.setContentsMargins(0, 0, 0, 0)
        ul = QHBoxLayout()
        ul.setSpacing(8)
        ul.addWidget(self._launch_box(), 2)
        ul.addWidget(self._context_box(), 3)
        uv.addLayout(ul, 1)
        uv.addWidget(self._command_row())
        self.rightSplitter.addWidget(upper)

        # details tabs
        self.detailTabs = QTabWidget()
        self.detailTabs.setObjectName("detailTabs")
        self.packagesTable = _table("packagesTable", ["Package", "Version", "Requested by",
                                                      "Repository"])
        self.envTable = _table("envTable", ["Variable", "Value", "Actions"])
        self.storageTable = _table("storageTable", ["Host", "Container", "From"])
        self.detailTabs.addTab(self.packagesTable, "Packages")
        self.detailTabs.addTab(self.envTable, "Environment")
        self.detailTabs.addTab(self.storageTable, "Storage")
        self.rightSplitter.addWidget(self.detailTabs)

        # logs
        logs = QWidget()
        ll = QGridLayout(logs)
        ll.setContentsMargins(0, 0, 0, 0)
        self.logPanel = QTabWidget()
        self.logPanel.setObjectName("logPanel")
        self.logPanel.setTabsClosable(True)
        self.logPanel.tabCloseRequested.connect(self._on_close_log)
        self.logPanel.currentChanged.connect(self._on_log_tab)
        self.exitCodeLabel = _label("no launch yet", "exitCodeLabel")
        self.runningList = QListWidget()
        self.runningList.setObjectName("runningList")
        self.runningList.setMaximumWidth(300)
        self.runningList.itemActivated.connect(self._on_running_activated)
        self.stopButton = QPushButton("Stop")
        self.stopButton.setObjectName("stopButton")
        self.stopButton.setEnabled(False)
        self.stopButton.clicked.connect(self._on_stop)
        self.logsButton = QPushButton("Logs")
        self.logsButton.setObjectName("logsButton")
        self.logsButton.setToolTip("Show the selected launch's log")
        self.logsButton.setEnabled(False)
        self.logsButton.clicked.connect(self._on_logs)
        self.runningList.currentItemChanged.connect(self._on_running_current)
        buttons = QHBoxLayout()
        buttons.addWidget(self.logsButton)
        buttons.addWidget(self.stopButton)
        header = QHBoxLayout()          # the exit code ends where the logs end
        header.addWidget(_label("Launch logs"))
        header.addStretch(1)
        header.addWidget(self.exitCodeLabel)
        ll.setHorizontalSpacing(12)
        ll.setColumnStretch(0, 1)
        ll.addLayout(header, 0, 0)
        ll.addWidget(_label("Running"), 0, 1)
        ll.addWidget(self.logPanel, 1, 0, 2, 1)
        ll.addWidget(self.runningList, 1, 1)
        ll.addLayout(buttons, 2, 1)
        self.rightSplitter.addWidget(logs)
        self.rightSplitter.setStretchFactor(0, 3)
        self.rightSplitter.setStretchFactor(1, 2)
        self.rightSplitter.setStretchFactor(2, 2)

        self.mainSplitter.addWidget(right)
        self.mainSplitter.setStretchFactor(0, 1)
        self.mainSplitter.setStretchFactor(1, 3)
        self.mainSplitter.setSizes([430, 970])
        self.rightSplitter.setSizes([330, 190, 230])
        self.leftSplitter.setSizes([560, 220])
        self.setCentralWidget(central)
        self.resize(1400, 900)
        self._clear_details()

    def _launch_box(self) -> QWidget:
        box = QGroupBox("Launch")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.toolList = QListWidget()
        self.toolList.setObjectName("toolList")
        self.toolList.currentRowChanged.connect(self._on_tool)
        self.toolList.itemActivated.connect(self._on_launch)
        self.toolList.setMinimumHeight(60)
        self.toolList.setMaximumHeight(160)
        form.addRow(self.toolList)
        self.variantCombo = QComboBox()
        self.variantCombo.setObjectName("variantCombo")
        self.variantCombo.currentIndexChanged.connect(self._on_tool_variant)
        form.addRow(_label("Tool variant"), self.variantCombo)
        self.contextVariantCombo = QComboBox()
        self.contextVariantCombo.setObjectName("contextVariantCombo")
        self.contextVariantCombo.activated.connect(self._on_context_variant)
        form.addRow(_label("Context variant"), self.contextVariantCombo)
        self.argsEdit = QLineEdit()
        self.argsEdit.setObjectName("argsEdit")
        self.argsEdit.setPlaceholderText("extra arguments, e.g. -f 1")
        self.argsEdit.textChanged.connect(self._on_args)
        self.argsEdit.returnPressed.connect(self._on_launch)
        form.addRow(_label("Arguments"), self.argsEdit)
        self.launchButton = QPushButton("Launch")
        self.launchButton.setObjectName("launchButton")
        self.launchButton.setDefault(True)
        self.launchButton.setMinimumHeight(30)
        self.launchButton.clicked.connect(self._on_launch)
        form.addRow(self.launchButton)
        return box

    def _command_row(self) -> QWidget:
        row = QWidget()
        cmd = QHBoxLayout(row)
        cmd.setContentsMargins(0, 0, 0, 0)
        self.commandLine = QLineEdit()
        self.commandLine.setObjectName("commandLine")
        self.commandLine.setReadOnly(True)
        self.commandLine.setPlaceholderText("the equivalent landscape launch command")
        self.commandLine.setFont(QFont("monospace"))
        self.copyCommandButton = QPushButton("Copy")
        self.copyCommandButton.setObjectName("copyCommandButton")
        self.copyCommandButton.clicked.connect(self._on_copy_command)
        cmd.addWidget(_label("Command"))
        cmd.addWidget(self.commandLine, 1)
        cmd.addWidget(self.copyCommandButton)
        return row

    def _context_box(self) -> QWidget:
        box = QGroupBox("Context")
        v = QVBoxLayout(box)
        self.metadataPanel = _table("metadataPanel", ["Key", "Value", "From"])
        v.addWidget(self.metadataPanel, 1)
        grid = QGridLayout()
        grid.setColumnStretch(1, 1)
        grid.addWidget(_label("Image"), 0, 0)
        self.imageStatus = _label("", "imageStatus", wrap=True)
        self.imageStatus.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        grid.addWidget(self.imageStatus, 0, 1)
        self.buildButton = QPushButton("Build")
        self.buildButton.setObjectName("buildButton")
        self.buildButton.clicked.connect(self._on_build)
        self.pullButton = QPushButton("Pull")
        self.pullButton.setObjectName("pullButton")
        self.pullButton.clicked.connect(self._on_pull)
        grid.addWidget(self.buildButton, 0, 2)
        grid.addWidget(self.pullButton, 0, 3)
        self.buildProgress = QProgressBar()
        self.buildProgress.setObjectName("buildProgress")
        self.buildProgress.setVisible(False)
        self.buildProgress.setTextVisible(True)
        grid.addWidget(self.buildProgress, 1, 0, 1, 4)
        grid.addWidget(_label("Policy"), 2, 0)
        self.policyStatus = _label("", "policyStatus", wrap=True)
        self.policyStatus.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        grid.addWidget(self.policyStatus, 2, 1, 1, 3)
        v.addLayout(grid)
        return box

    def _shortcuts(self) -> None:
        def key(seq: str | QKeySequence, fn: Callable[[], None]) -> None:
            s = QShortcut(QKeySequence(seq), self)
            s.setContext(Qt.ShortcutContext.WindowShortcut)
            s.activated.connect(fn)

        key(QKeySequence.StandardKey.Find, self._on_focus_filter)
        key("Ctrl+F", self._on_focus_filter)
        key("Escape", self._on_escape)
        key("F5", self._on_refresh)
        key("Ctrl+Return", self._on_launch_default)
        key("Ctrl+Enter", self._on_launch_default)

    def _swap_model(self, model: QAbstractItemModel) -> None:
        """Show ``model`` in the tree; the previous selection model, and the previous
        filter model, are deleted (Qt keeps them otherwise: one per keystroke)."""
        old_selection = self.contextTree.selectionModel()
        old_model = self.contextTree.model()
        self.contextTree.setModel(model)
        self.contextTree.selectionModel().currentChanged.connect(self._on_current)
        if old_selection is not None:
            old_selection.deleteLater()
        if old_model is not None and old_model is not self.tree_model and old_model is not model:
            old_model.deleteLater()

    def _set_tree_model(self, model: QAbstractItemModel) -> None:
        self._swap_model(model)
        header = self.contextTree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c, width in ((1, 110), (2, 72)):   # fixed: sizing to contents reads every row
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(c, width)

    # -- studio and tree -----------------------------------------------------------------

    def _load_studio(self, expand: tuple[Path, ...] = ()) -> None:
        """Ask the backend for the studio's entry; then show it as the tree's top row,
        expanded, with the folders ``expand`` expanded again (F5) and the selection
        revealed."""
        def loaded(entry: Any) -> None:
            self.root = Path(entry.path)
            self.setWindowTitle(f"Landscape — {entry.name}")
            if entry.errors:   # a root that does not exist or cannot be read
                self.show_message("\n".join(entry.errors))
            selection = self.contextTree.selectionModel()
            selection.blockSignals(True)   # the rows going away must not move the selection
            try:
                self.tree_model.set_studio(entry)
            finally:
                selection.blockSignals(False)
            for path in sorted(expand, key=lambda p: len(p.parts)):
                self._expand_path(path)
            node = self.tree_model.studio_node()
            self.tree_model.ensure(node, lambda: self.contextTree.expand(
                self.tree_model.index_of(node)))
            self._build_index(later=not self.filterEdit.text().strip())
            if self._context is None:
                self.select_context(self.root)
            else:
                self._set_crumbs(self._context, self._details.levels if self._details else {})
                self.reveal(self._context)

        def failed(message: str) -> None:
            self.show_message(f"cannot open the studio: {message}")

        self.spawn(self.backend.studio, loaded, failed, name="studio")

    def _request_children(self, node: _Node) -> None:
        path = Path(node.entry.path)
        self._listings += 1

        def done(entries: list[Any]) -> None:
            self._listings -= 1
            self.tree_model.set_children(node, list(entries))

        def failed(message: str) -> None:
            self._listings -= 1
            self.show_message(f"cannot list {path}: {message}")
            self.tree_model.set_children(node, [])

        def batch(entries: list[Any]) -> None:  # in the worker: rows shown as they come
            self.post(lambda: self.tree_model.add_children(node, list(entries)))

        def update(entries: list[Any]) -> None:  # in the worker: outline rows finished
            self.post(lambda: self.tree_model.update_children(node, list(entries)))

        self.spawn(lambda: self.backend.children(path, batch=batch, update=update), done,
                   failed, name="children")

    #: Seconds after the studio opens (or F5) before the search index is built unasked: a
    #: first listing of a big folder is not slowed by a walk of the whole studio beside it.
    INDEX_DELAY = 1.5

    def _build_index(self, later: bool = False) -> None:
        """Forget the index; build it again now, or (``later``) after :attr:`INDEX_DELAY`
        unless the filter asks for it first (:meth:`_ensure_index`)."""
        self._index_ready = False
        self._index_generation += 1
        self._index_building = False
        if later:
            QTimer.singleShot(int(self.INDEX_DELAY * 1000), self._index_when_idle)
        else:
            self._ensure_index()

    @_guarded
    def _index_when_idle(self, *_: Any) -> None:
        """Build the index unasked once no folder is being listed and nothing resolved
        (those come first: the artist waits for them)."""
        if self._listings or self._resolving:
            QTimer.singleShot(300, self._index_when_idle)
        else:
            self._ensure_index()

    @_guarded
    def _ensure_index(self, *_: Any) -> None:
        """Start building the search index in a worker unless it is built or building."""
        if self._index_ready or self._index_building or self.tree_model.studio_node() is None:
            return
        self._index_building = True
        generation = self._index_generation

        def work() -> Any:
            index = self.backend.index()
            index.build(cancel=self._closing)
            return index

        def done(index: Any) -> None:
            if generation != self._index_generation:   # F5 asked for a newer one
                return
            self._index = index
            self._index_ready = True
            self._index_building = False
            if self.filterEdit.text().strip():
                self._apply_filter(self.filterEdit.text())

        def failed(message: str) -> None:
            if generation == self._index_generation:
                self._index_building = False
                self.show_message(f"cannot index the studio: {message}")

        self.spawn(work, done, failed, name="index")

    def reveal(self, path: Path) -> None:
        """Expand the lazy tree down to ``path`` and select its row (asynchronously, as
        folders get listed)."""
        if self._filtering:
            return
        studio = self.tree_model.studio_node()
        if studio is None:
            return
        base = Path(studio.entry.path)
        try:
            parts = path.relative_to(base).parts
        except ValueError:
            return
        self._reveal_step(studio, list(parts), path)

    def _reveal_step(self, node: _Node, rest: list[str], target: Path) -> None:
        if self._filtering or self._context != target:
            return
        index = self.tree_model.index_of(node)
        if not rest:
            sel = self.contextTree.selectionModel()
            if self.contextTree.currentIndex() != index:
                sel.setCurrentIndex(index, sel.SelectionFlag.ClearAndSelect
                                    | sel.SelectionFlag.Rows)
            self.contextTree.scrollTo(index)
            return

        def go() -> None:
            self.contextTree.expand(index)
            for child in node.children or []:
                if Path(child.entry.path).name == rest[0]:
                    self._reveal_step(child, rest[1:], target)
                    return

        self.tree_model.ensure(node, go)

    @_guarded
    def _on_current(self, current: QModelIndex, _previous: QModelIndex = QModelIndex()) -> None:
        path = current.data(PATH_ROLE) if current.isValid() else None
        if path:
            self.select_context(Path(path))

    @_guarded
    def _on_activated(self, index: QModelIndex) -> None:
        if not index.isValid():
            return
        if self._filtering:
            path = index.data(PATH_ROLE)
            if path:
                self.select_context(Path(path))
            return
        self.contextTree.setExpanded(index, not self.contextTree.isExpanded(index))

    # -- filter --------------------------------------------------------------------------

    @_guarded
    def _on_filter(self, text: str) -> None:
        self._apply_filter(text)

    def _apply_filter(self, text: str) -> None:
        query = text.strip()
        if not query:
            self._filter_note = ""
            if self._filtering:
                self._filtering = False
                self._set_tree_model(self.tree_model)
                if self._context is not None:
                    self.reveal(self._context)
            return
        if not self._index_ready:
            self.resolveStatus.setText("indexing the studio…")
            self._ensure_index()
            return
        results = self._index.search(query)
        matched = set(results)
        self._filtering = True
        model = QStandardItemModel(self)
        model.setObjectName("filterResults")
        model.setHorizontalHeaderLabels(["Context (matches)"])
        items: dict[tuple[str, ...], QStandardItem] = {}
        root = self.root or Path("/")
        for rel in results:
            parts = tuple(Path(rel).parts)
            for depth in range(1, len(parts) + 1):
                key = parts[:depth]
                if key in items:
                    continue
                item = QStandardItem(key[-1])
                item.setEditable(False)
                item.setData(str(root.joinpath(*key)), PATH_ROLE)
                item.setToolTip(plain_tip("/".join(key)))
                if depth < len(parts) and "/".join(key) not in matched:
                    item.setForeground(QBrush(_GREY))
                (items[key[:-1]] if depth > 1 else model.invisibleRootItem()).appendRow(item)
                items[key] = item
        self._swap_model(model)
        self.contextTree.expandAll()
        self.contextTree.header().setStretchLastSection(True)
        note = f"{len(results)} match" + ("" if len(results) == 1 else "es")
        self._filter_note = note
        self.resolveStatus.setText(note)

    @_guarded
    def _on_filter_enter(self) -> None:
        if not self._filtering:
            return
        model = self.contextTree.model()
        index = model.index(0, 0)
        while index.isValid() and model.hasChildren(index):   # the first full match
            index = model.index(0, 0, index)
        if index.isValid():
            self.contextTree.setCurrentIndex(index)
            self.contextTree.setFocus()

    @_guarded
    def _on_focus_filter(self) -> None:
        self._ensure_index()
        self.filterEdit.setFocus()
        self.filterEdit.selectAll()

    @_guarded
    def _on_escape(self) -> None:
        if self.filterEdit.text():
            self.filterEdit.clear()
        self.contextTree.setFocus()

    # -- selection and details -----------------------------------------------------------

    def select_context(self, path: Path, tool: str | None = None,
                       variant: str | None = None) -> None:
        """Select the context ``path`` (and optionally ``tool`` and its ``variant``):
        breadcrumbs now, details when the resolve in a worker ends."""
        path = Path(path)
        if tool is not None:
            self._tool = tool
        if variant is not None:
            self._pending_variant = variant
        if path == self._context and tool is None:
            return
        if path != self._context:
            self._variants = ()
        self._context = path
        self._set_crumbs(path, {})
        self._save_selection()
        self._request_details()
        self.reveal(path)

    def _request_details(self) -> None:
        """Resolve the current selection in the details lane (see :meth:`_lane_run`)."""
        if self._context is None:
            return
        self._token += 1
        job = (self._token, self._context, self._tool, self._variants)
        self._resolving = True
        self.resolveStatus.setText("resolving…")
        self._update_launch()
        with self._lane_lock:
            self._lane_next = job
            if self._lane_busy:
                return
            self._lane_busy = True
        threading.Thread(target=self._lane_run, name="landscape-gui-details",
                         daemon=True).start()

    def _lane_run(self) -> None:
        """The details lane (a worker thread): resolve the newest request; a request made
        while another was resolving replaces any older waiting one, so fast arrow keys do
        not queue a resolve per row. A superseded result is dropped by :meth:`_on_details`."""
        while not self._closing.is_set():
            with self._lane_lock:
                job, self._lane_next = self._lane_next, None
                if job is None:
                    self._lane_busy = False
                    return
            token, context, tool, variants = job
            try:
                details = self.backend.details(context, tool, variants)
            except Exception as e:  # noqa: BLE001 - shown as the context's error
                message = _short_error(e)
                self.post(lambda t=token, c=context, o=tool, v=variants, m=message:
                          self._on_details(t, ContextDetails(context=c, tool=o, variants=v,
                                                             errors=[m]), o))
                continue
            self.post(lambda t=token, d=details, o=tool: self._on_details(t, d, o))
        with self._lane_lock:
            self._lane_busy = False

    def _on_details(self, token: int, details: ContextDetails, asked: str | None) -> None:
        if token != self._token:    # a newer selection superseded this resolve
            return
        names = [t.name for t in details.tools]
        want = self._tool if self._tool in names else (names[0] if names else None)
        if want is not None and asked != want:   # resolve again with the tool to show
            self._tool = want
            self._show_details(details, final=False)
            self._request_details()
            return
        self._resolving = False
        self.resolveStatus.setText(self._filter_note)  # a filter's count outlives a resolve
        if want is not None:
            self._tool = want
        self._show_details(details)

    def _clear_details(self) -> None:
        for t in (self.metadataPanel, self.packagesTable, self.envTable, self.storageTable):
            t.setRowCount(0)
        self.toolList.clear()
        self.variantCombo.clear()
        self.contextVariantCombo.clear()
        self.imageStatus.setText("")
        self.policyStatus.setText("")
        self.errorPanel.clear()
        self.errorPanel.setVisible(False)
        self.commandLine.clear()
        self._update_launch()

    def _short(self, text: str) -> str:
        """``text`` with the studio root's path taken off the file names it holds (the
        tooltips keep the full text)."""
        if self.root is None or not text:
            return text
        return text.replace(f"{self.root}/", "")

    def _show_details(self, d: ContextDetails, final: bool = True) -> None:
        self._details = d
        self._set_crumbs(d.context, d.levels)
        short = self._short
        # metadata: the typed rows first; only the rows shown are made (a context may
        # have hundreds of thousands)
        typed = {k: i for i, k in enumerate(TYPED_KEYS)}
        first = sorted((r for r in d.metadata if r.key in typed), key=lambda r: typed[r.key])
        rows = first + list(itertools.islice(
            (r for r in d.metadata if r.key not in typed), max(0, MAX_ROWS - len(first))))
        _fill(self.metadataPanel, rows, lambda r: [r.key, r.value, short(r.source)],
              lambda r: f"{r.key} from {r.source}" if r.source else "", len(d.metadata))
        _fill(self.packagesTable, d.packages,
              lambda p: [p.name, p.version, short(p.requested_by) or "(dependency)",
                         short(p.repository)],
              lambda p: (f"requested by {p.requested_by}" if p.requested_by else
                         "a dependency nobody named") + f"\nfrom {p.repository}")
        _fill(self.envTable, d.env, lambda r: [r.key, r.value, short(r.source)],
              lambda r: f"{r.key}={r.value}\n{r.source}")
        _fill(self.storageTable, d.storage, lambda r: [r.key, r.value, short(r.source)],
              lambda r: f"{r.key} → {r.value}\n{r.source}")
        # errors
        errors = [cut(e, MAX_TIP) for e in d.errors[:MAX_ROWS]]
        if len(d.errors) > MAX_ROWS:
            errors.append(f"… {len(d.errors) - MAX_ROWS:,} more (landscape check shows all)")
        self.errorPanel.setPlainText("\n".join(errors))
        self.errorPanel.setVisible(bool(d.errors))
        # policy
        if d.errors:
            self.policyStatus.setText("not checked: the context has errors")
        elif d.policy_ok:
            self.policyStatus.setText("allowed" + (f" — {d.policy_message}"
                                                   if d.policy_message else ""))
        else:
            self.policyStatus.setText(f"blocked: {d.policy_message}")
        self.policyStatus.setStyleSheet("" if d.policy_ok and not d.errors
                                        else "color: #b00020;")
        # tools
        self.toolList.blockSignals(True)
        self.toolList.clear()
        for t in d.tools:
            extra = [t.category] if t.category else []
            if t.gui:
                extra.append("window")
            text = t.label or t.name
            if t.label and t.label != t.name:
                text = f"{t.label}  ({t.name})"
            if extra:
                text += "   · " + ", ".join(extra)
            item = QListWidgetItem(cut(text, MAX_CELL))
            item.setData(DATA_ROLE, t.name)
            item.setToolTip(plain_tip(cut(f"{t.name}: {t.label}", MAX_TIP)))
            self.toolList.addItem(item)
            if t.name == self._tool:
                self.toolList.setCurrentItem(item)
        self.toolList.blockSignals(False)
        self._fill_variants()
        # context variants
        self.contextVariantCombo.blockSignals(True)
        self.contextVariantCombo.clear()
        self.contextVariantCombo.addItem("(none)", "")
        for v in d.available_variants:
            self.contextVariantCombo.addItem(v, v)
        current = self._variants[0] if self._variants else ""
        i = self.contextVariantCombo.findData(current)
        self.contextVariantCombo.setCurrentIndex(max(i, 0))
        self.contextVariantCombo.blockSignals(False)
        # image
        key = d.image_key[:12] if d.image_key else "—"
        self._image_text = f"{key}  {d.image_tag}".strip()
        if final:
            self._check_image(d)
        self._update_favourite()
        self._update_command()
        self._update_launch()

    def _fill_variants(self) -> None:
        d = self._details
        self.variantCombo.blockSignals(True)
        self.variantCombo.clear()
        tool = next((t for t in (d.tools if d else []) if t.name == self._tool), None)
        for v in (tool.variants if tool else ()):
            self.variantCombo.addItem(v or "default", v)
        pending = getattr(self, "_pending_variant", None)
        if pending is not None:
            i = self.variantCombo.findData(pending)
            if i >= 0:
                self.variantCombo.setCurrentIndex(i)
            self._pending_variant = None
        self.variantCombo.blockSignals(False)

    def _set_crumbs(self, path: Path, levels: dict) -> None:
        while self._crumbs.count():
            w = self._crumbs.takeAt(0).widget()
            if w is not None:
                w.hide()
                w.setParent(None)
                w.deleteLater()
        root = self.root
        chain: list[Path] = []
        p = path
        if root is not None:
            try:
                path.relative_to(root)
            except ValueError:
                root = None
        if root is not None:
            while True:
                chain.append(p)
                if p == root or p.parent == p:
                    break
                p = p.parent
            chain.reverse()
        else:
            chain = [path]
        by_name = {v: k for k, v in (levels or {}).items()}  # when no folders are known
        folders = getattr(self._details, "level_folders", None) or {}
        for i, p in enumerate(chain):
            if i:
                sep = _label("›")
                sep.setStyleSheet("color: #888;")
                self._crumbs.addWidget(sep)
            b = QToolButton()
            b.setAutoRaise(True)
            text = p.name or str(p)
            level = folders.get(str(p)) if folders else by_name.get(p.name)
            b.setText(_amp(f"{text} ({level})" if level else text))
            b.setToolTip(plain_tip(str(p)))
            b.setProperty("contextPath", str(p))
            b.clicked.connect(functools.partial(self._on_crumb, p))
            if i == len(chain) - 1:
                f = QFont(b.font())
                f.setBold(True)
                b.setFont(f)
            self._crumbs.addWidget(b)
        self._crumbs.addStretch(1)

    @_guarded
    def _on_crumb(self, path: Path, *_: Any) -> None:
        self.select_context(path)

    @_guarded
    def _on_tool(self, row: int) -> None:
        item = self.toolList.item(row) if row >= 0 else None
        if item is None:
            return
        name = item.data(DATA_ROLE)
        if name == self._tool:
            return
        self._tool = name
        self._fill_variants()
        self._save_selection()
        self._update_command()
        self._update_favourite()
        self._request_details()

    @_guarded
    def _on_tool_variant(self, *_: Any) -> None:
        self._save_selection()
        self._update_command()

    @_guarded
    def _on_context_variant(self, *_: Any) -> None:
        v = self.contextVariantCombo.currentData() or ""
        variants = (v,) if v else ()
        if variants != self._variants:
            self._variants = variants
            self._request_details()

    # -- image ---------------------------------------------------------------------------

    def _check_image(self, d: ContextDetails) -> None:
        self._image_token += 1
        token = self._image_token
        if d.errors or not d.image_key:
            self._set_image(ImageState("unknown", "no image: the context does not resolve")
                            if d.errors else ImageState("unknown", "no image key"))
            return
        self.imageStatus.setText(f"{self._image_text} — checking…")

        def done(state: ImageState) -> None:
            if token == self._image_token and not self._building:
                self._set_image(state)

        def failed(message: str) -> None:
            if token == self._image_token and not self._building:
                self._set_image(ImageState("unknown", message))

        self.spawn(lambda: self.backend.image_state(d), done, failed, name="image")

    def _set_image(self, state: ImageState, failed: str | None = None) -> None:
        self._image_state = state
        words = {"ready": "ready", "missing": "missing — to build (or pull)",
                 "unknown": "unknown"}
        text = words.get(state.state, state.state)
        if failed:
            text = f"failed: {failed}"
        elif state.message:
            text += f": {state.message}"
        self.imageStatus.setText(f"{self._image_text} — {text}")
        self.imageStatus.setProperty("state", "failed" if failed else state.state)
        colour = {"ready": "#1b7f2a", "missing": "#8a4b00"}.get(state.state, "#b00020")
        self.imageStatus.setStyleSheet(f"color: {'#b00020' if failed else colour};")
        self._update_image_buttons()

    def _update_image_buttons(self) -> None:
        d = self._details
        ok = bool(d and not d.errors and d.image_key) and not self._building
        self.buildButton.setEnabled(ok)
        self.pullButton.setEnabled(ok)

    @_guarded
    def _on_build(self, *_: Any) -> None:
        self._on_get_image(pull_only=False)

    @_guarded
    def _on_pull(self, *_: Any) -> None:
        self._on_get_image(pull_only=True)

    def _on_get_image(self, pull_only: bool) -> None:
        d = self._details
        if d is None or self._building:
            return
        self._building = True
        self._update_image_buttons()
        self.buildProgress.setVisible(True)
        self.buildProgress.setRange(0, 0)
        self.buildProgress.setFormat("starting…")
        verb = "pulling" if pull_only else "building"
        self.imageStatus.setText(f"{self._image_text} — {verb}…")
        self.imageStatus.setProperty("state", "building")

        def progress(step: int, steps: int, line: str) -> None:
            self.post(lambda: self._on_progress(step, steps, line))

        def done(_: Any) -> None:
            self._building = False
            self.buildProgress.setVisible(False)
            if self._details is d:
                self._check_image(d)
            self._update_image_buttons()

        def failed(message: str) -> None:
            self._building = False
            self.buildProgress.setVisible(False)
            self._set_image(getattr(self, "_image_state", ImageState("unknown")),
                            failed=message)
            self.show_message(f"{verb} the image failed: {message}")

        self.spawn(lambda: self.backend.get_image(d, pull_only=pull_only, progress=progress),
                   done, failed, name="image-build")

    def _on_progress(self, step: int, steps: int, line: str) -> None:
        if steps > 0:
            self.buildProgress.setRange(0, steps)
            self.buildProgress.setValue(min(step, steps))
        else:
            self.buildProgress.setRange(0, 0)
        last = (line or "").strip().splitlines()
        self.buildProgress.setFormat((f"{step}/{steps} " if steps else "")
                                     + (last[-1][:120] if last else "").replace("%", "%%"))

    # -- launch --------------------------------------------------------------------------

    def _request(self) -> LaunchRequest | None:
        d = self._details
        if d is None or self._context is None or not self._tool:
            return None
        variant = self.variantCombo.currentData() or None
        args = tuple(shlex.split(self.argsEdit.text()))
        return LaunchRequest(context=self._context, tool=self._tool, variant=variant,
                             variants=self._variants, args=args, root=self._given_root)

    @_guarded
    def _on_args(self, *_: Any) -> None:
        self._update_command()

    @_guarded
    def _on_running_current(self, *_: Any) -> None:
        self._update_stop()

    def _update_command(self) -> None:
        try:
            request = self._request()
        except ValueError as e:
            self.commandLine.setText(f"arguments: {e}")
            return
        if request is None:
            self.commandLine.clear()
            return
        self.commandLine.setText(self.backend.command_line(request))
        self.commandLine.setCursorPosition(0)

    def _update_launch(self) -> None:
        d = self._details
        ok = (d is not None and d.launchable and not self._resolving and bool(self._tool)
              and d.context == self._context)
        self.launchButton.setEnabled(ok)
        tip = ""
        if d is not None and d.errors:
            tip = "this context has errors (see above)"
        elif d is not None and not d.policy_ok:
            tip = f"blocked by policy: {d.policy_message}"
        self.launchButton.setToolTip(plain_tip(tip))
        self._update_image_buttons()

    @_guarded
    def _on_launch_default(self) -> None:
        if self._tool is None and self.toolList.count():
            self.toolList.setCurrentRow(0)
        self._on_launch()

    @_guarded
    def _on_launch(self, *_: Any) -> None:
        if not self.launchButton.isEnabled():
            if self._details is not None and self._details.errors:
                self.show_message("cannot launch: the context has errors")
            return
        try:
            request = self._request()
        except ValueError as e:
            self.show_message(f"cannot read the arguments: {e}")
            return
        if request is not None:
            self.launch(request)

    def launch(self, request: LaunchRequest) -> int:
        """Start ``request`` in a worker: a new log tab, a row in ``runningList``; returns
        the launch's number."""
        self._write_selection()
        self._launch_count += 1
        n = self._launch_count
        log = QPlainTextEdit()
        log.setObjectName(f"launchLog{n}")
        log.setReadOnly(True)
        log.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        log.setFont(QFont("monospace"))
        tool = request.tool + (f"/{request.variant}" if request.variant else "")
        title = f"{n}: {tool} · {request.context.name}"
        item = QListWidgetItem(f"{title} — running")
        item.setData(DATA_ROLE, n)
        self.runningList.addItem(item)
        self.runningList.setCurrentItem(item)
        stop = threading.Event()
        launch = _Launch(n, request, stop, log, item, time.monotonic())
        self._launches[n] = launch
        try:
            command = self.backend.command_line(request)
        except Exception as e:  # noqa: BLE001 - the log still opens
            command = f"({_short_error(e)})"
        log.setPlainText(f"$ {command}\n")  # the tool's output starts on the next line
        i = self.logPanel.addTab(log, _amp(title))
        self.logPanel.setTabToolTip(i, plain_tip(command))
        self.logPanel.setCurrentIndex(i)
        self._update_exit_label()
        self._update_stop()

        def output(stream: str, text: str) -> None:
            with launch.lock:
                launch.buffer.append((stream, text))
                if launch.pending:
                    return
                launch.pending = True
            self.post(lambda: self._flush(launch))

        def work() -> LaunchResult:
            try:
                return self.backend.launch(request, output, stop)
            except Exception as e:  # noqa: BLE001 - the backend should not raise; say so
                return LaunchResult(None, time.monotonic() - launch.started, _short_error(e))

        def done(result: LaunchResult) -> None:
            self._flush(launch)
            self._finished(launch, result)

        self.spawn(work, done, name=f"launch-{n}")
        return n

    def _flush(self, launch: _Launch) -> None:
        with launch.lock:
            chunks, launch.buffer, launch.pending = launch.buffer, [], False
        if not chunks:
            return
        cursor = launch.log.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        fmt_out, fmt_err = QTextCharFormat(), QTextCharFormat()
        fmt_err.setForeground(QBrush(_RED))
        for stream, text in chunks:
            cursor.insertText(text, fmt_err if stream == "stderr" else fmt_out)
        launch.log.setTextCursor(cursor)
        launch.log.ensureCursorVisible()

    def _finished(self, launch: _Launch, result: LaunchResult) -> None:
        launch.result = result
        r = launch.request
        if result.exit_code is None:
            _last_line(launch.log, f"[did not start: {result.error}]")
            self.show_message(f"{r.tool} did not start: {result.error}")
        else:
            _last_line(launch.log, f"[exit code {result.exit_code} after "
                                   f"{result.seconds:.1f} s]")
        row = self.runningList.row(launch.item)
        if row >= 0:
            self.runningList.takeItem(row)
        self._record_recent(r, result.exit_code)
        self._update_exit_label()
        self._update_stop()

    def _exit_text(self, launch: _Launch) -> str:
        res = launch.result
        if res is None:
            return f"running for {time.monotonic() - launch.started:.0f} s"
        if res.exit_code is None:
            return f"did not start: {res.error} ({res.seconds:.1f} s)"
        return f"exit code {res.exit_code} · {res.seconds:.1f} s"

    def _current_launch(self) -> _Launch | None:
        w = self.logPanel.currentWidget()
        return next((lc for lc in self._launches.values() if lc.log is w), None)

    def _update_exit_label(self) -> None:
        launch = self._current_launch()
        text = self._exit_text(launch) if launch else "no launch yet"
        bad = launch is not None and launch.result is not None and launch.result.exit_code != 0
        label = self.exitCodeLabel
        label.setStyleSheet("color: #b00020; font-weight: bold;" if bad else "font-weight: bold;")
        label.setText(text)
        # the style's bold font is applied at polish; the layout must never cut the duration off
        label.ensurePolished()
        label.setMinimumWidth(label.fontMetrics().horizontalAdvance(text) + 4)

    @_guarded
    def _on_log_tab(self, *_: Any) -> None:
        self._update_exit_label()

    @_guarded
    def _on_close_log(self, i: int) -> None:
        w = self.logPanel.widget(i)
        launch = next((lc for lc in self._launches.values() if lc.log is w), None)
        if launch is not None and launch.result is None:
            self.show_message("that launch is still running: stop it first")
            return
        self.logPanel.removeTab(i)
        w.deleteLater()              # removeTab keeps the page
        if launch is not None:
            del self._launches[launch.number]

    def _selected_running(self) -> _Launch | None:
        item = self.runningList.currentItem()
        if item is not None:
            return self._launches.get(item.data(DATA_ROLE))
        launch = self._current_launch()
        return launch if launch is not None and launch.result is None else None

    def _update_stop(self) -> None:
        launch = self._selected_running()
        self.stopButton.setEnabled(launch is not None and launch.result is None
                                   and not launch.stop.is_set())
        item = self.runningList.currentItem()
        self.logsButton.setEnabled(item is not None
                                   and item.data(DATA_ROLE) in self._launches)

    @_guarded
    def _on_logs(self, *_: Any) -> None:
        item = self.runningList.currentItem()
        if item is not None:
            self._on_running_activated(item)

    @_guarded
    def _on_stop(self, *_: Any) -> None:
        launch = self._selected_running()
        if launch is not None and launch.result is None:
            launch.stop.set()
            launch.item.setText(launch.item.text().replace("— running", "— stopping"))
        self._update_stop()

    @_guarded
    def _on_running_activated(self, item: QListWidgetItem) -> None:
        launch = self._launches.get(item.data(DATA_ROLE))
        if launch is not None:
            self.logPanel.setCurrentWidget(launch.log)

    @_guarded
    def _on_copy_command(self, *_: Any) -> None:
        text = self.commandLine.text()
        if text:
            QApplication.clipboard().setText(text)
            self.statusBar().showMessage("command copied", 3000)

    # -- recents, favourites, settings ---------------------------------------------------

    def _record_recent(self, r: LaunchRequest, code: int | None) -> None:
        try:
            self.settings.add_recent(r.context, r.tool, r.variant, code)
        except Exception as e:  # noqa: BLE001 - settings must not break a launch
            self.report(e, "recents")
        self._refresh_lists()

    def _refresh_lists(self) -> None:
        self.recentList.clear()
        for rec in self.settings.recents():
            tool = rec.tool + (f"/{rec.variant}" if rec.variant else "")
            code = "—" if rec.exit_code is None else str(rec.exit_code)
            when = (rec.when or "").replace("T", " ")[:16]
            item = QListWidgetItem(f"{self._rel(rec.context)} · {tool} · exit {code} · {when}")
            item.setData(DATA_ROLE, rec)
            item.setToolTip(plain_tip(f"{rec.context}\n{tool}\nexit code {code}\n{rec.when}\n"
                                      "double-click: select; right-click: launch again"))
            self.recentList.addItem(item)
        self.favouritesList.clear()
        for fav in self.settings.favourites():
            text = self._rel(fav.context) + (f" · {fav.tool}" if fav.tool else "")
            item = QListWidgetItem("★ " + text)
            item.setData(DATA_ROLE, fav)
            item.setToolTip(plain_tip(str(fav.context)))
            self.favouritesList.addItem(item)

    def _rel(self, path: Path | str) -> str:
        p = Path(path)
        if self.root is not None:
            try:
                return str(p.relative_to(self.root)) if p != self.root else p.name
            except ValueError:
                pass
        return str(p)

    def _update_favourite(self) -> None:
        c = self._context
        on = c is not None and self.settings.is_favourite(c)
        self.favouriteButton.blockSignals(True)
        self.favouriteButton.setChecked(on)
        self.favouriteButton.setText("★ Favourite" if on else "☆ Favourite")
        self.favouriteButton.blockSignals(False)
        with_tool = c is not None and bool(self._tool) and self.settings.is_favourite(c, self._tool)
        self.favouriteToolAction.setChecked(with_tool)
        self.favouriteToolAction.setEnabled(bool(self._tool))
        self.favouriteToolAction.setText(_amp(f"Favourite with the tool {self._tool}")
                                         if self._tool else "Favourite with a tool")

    @_guarded
    def _on_favourite(self, *_: Any) -> None:
        if self._context is not None:
            self.settings.toggle_favourite(self._context)
        self._update_favourite()
        self._refresh_lists()

    @_guarded
    def _on_favourite_tool(self, *_: Any) -> None:
        if self._context is not None and self._tool:
            self.settings.toggle_favourite(self._context, self._tool)
        self._update_favourite()
        self._refresh_lists()

    @_guarded
    def _on_favourite_activated(self, item: QListWidgetItem) -> None:
        fav = item.data(DATA_ROLE)
        self.filterEdit.clear()
        self.select_context(Path(fav.context), tool=fav.tool or None)

    @_guarded
    def _on_recent_activated(self, item: QListWidgetItem) -> None:
        rec = item.data(DATA_ROLE)
        self.filterEdit.clear()
        self.select_context(Path(rec.context), tool=rec.tool, variant=rec.variant or "")

    @_guarded
    def _on_recent_menu(self, pos: Any) -> None:
        item = self.recentList.itemAt(pos)
        if item is None:
            return
        menu = QMenu(self)
        menu.addAction("Select", lambda: self._on_recent_activated(item))
        menu.addAction("Launch again", lambda: self.relaunch_recent(item))
        menu.popup(self.recentList.viewport().mapToGlobal(pos))

    @_guarded
    def relaunch_recent(self, item: QListWidgetItem) -> None:
        """Launch a recent entry again (same context, tool and variant; no extra args)."""
        rec = item.data(DATA_ROLE)
        self.launch(LaunchRequest(context=Path(rec.context), tool=rec.tool,
                                  variant=rec.variant or None, root=self._given_root))

    def _last_selection(self) -> Path | None:
        """The last selection kept in the settings, when it lies in this studio (the
        backend's root, or the window's): a launcher opened on another studio, or outside
        any, does not open on it."""
        last = self.settings.last_selection()
        if last is None:
            return None
        context, tool = last
        studio = self.root or getattr(self.backend, "root", None)
        if not context or getattr(self.backend, "problem", None) or (
                studio is not None and not under(str(context), str(studio))):
            return None
        if tool and self._tool is None:
            self._tool = tool
        return Path(context)

    def _save_selection(self) -> None:
        """Remember the selection; written to the settings file when a launch starts and
        when the window closes (not at every arrow key: each write syncs a file)."""
        self._selection_dirty = self._context is not None

    def _write_selection(self) -> None:
        if not getattr(self, "_selection_dirty", False) or self._context is None:
            return
        self._selection_dirty = False
        try:
            self.settings.set_last_selection(self._context, self._tool)
        except Exception as e:  # noqa: BLE001 - settings must not break the window
            self.report(e, "settings")

    def _restore_layout(self) -> None:
        self._restore(("geometry", self.restoreGeometry), ("state", self.restoreState))

    def _restore(self, *pairs: tuple[str, Callable[[QByteArray], Any]]) -> None:
        layout = self.settings.layout()
        for key, restore in pairs:
            text = layout.get(key)
            if text:
                try:
                    restore(QByteArray.fromBase64(text.encode("ascii")))
                except (ValueError, UnicodeError):
                    pass

    def save_layout(self) -> None:
        """Store the window's geometry, state and splitters in the settings."""
        def b64(data: QByteArray) -> str:
            return bytes(data.toBase64().data()).decode("ascii")

        self.settings.set_layout({
            "geometry": b64(self.saveGeometry()), "state": b64(self.saveState()),
            "main": b64(self.mainSplitter.saveState()),
            "left": b64(self.leftSplitter.saveState()),
            "right": b64(self.rightSplitter.saveState())})

    # -- F5 ------------------------------------------------------------------------------

    @_guarded
    def _on_refresh(self, *_: Any) -> None:
        """Re-read: the backend's caches, the expanded folders, the index, the selection."""
        clear = getattr(self.backend, "clear_caches", None)
        if callable(clear):
            clear()
        studio = self.tree_model.studio_node()
        expanded: list[Path] = []

        def walk(node: _Node) -> None:
            if node.children is None:
                if node.loading:     # being listed for an expansion: list it again
                    expanded.append(Path(node.entry.path))
                return
            if node is studio or (not self._filtering
                                  and self.contextTree.isExpanded(self.tree_model.index_of(node))):
                expanded.append(Path(node.entry.path))
                for c in node.children:
                    walk(c)

        if studio is not None:
            walk(studio)
        self._load_studio(expand=tuple(expanded))   # lists them again, then the index
        if self._context is not None:
            self._request_details()

    def _find_node(self, path: Path) -> _Node | None:
        node = self.tree_model.studio_node()
        if node is None:
            return None
        try:
            parts = path.relative_to(Path(node.entry.path)).parts
        except ValueError:
            return None
        for part in parts:
            node = next((c for c in node.children or [] if Path(c.entry.path).name == part),
                        None)
            if node is None:
                return None
        return node

    def _expand_path(self, path: Path) -> None:
        studio = self.tree_model.studio_node()
        if studio is None:
            return
        try:
            parts = list(path.relative_to(Path(studio.entry.path)).parts)
        except ValueError:
            return

        def step(node: _Node, rest: list[str]) -> None:
            def go() -> None:
                if not self._filtering:
                    self.contextTree.expand(self.tree_model.index_of(node))
                if rest:
                    child = next((c for c in node.children or []
                                  if Path(c.entry.path).name == rest[0]), None)
                    if child is not None:
                        step(child, rest[1:])
            self.tree_model.ensure(node, go)

        step(studio, parts)

    # -- closing -------------------------------------------------------------------------

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if not getattr(self, "_splitters_restored", False):  # once the window has its size
            self._splitters_restored = True
            self._restore(("main", self.mainSplitter.restoreState),
                          ("left", self.leftSplitter.restoreState),
                          ("right", self.rightSplitter.restoreState))

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        try:
            self._write_selection()
            self.save_layout()
        except Exception as e:  # noqa: BLE001 - closing must not fail
            self.report(e, "closeEvent")
        self._closing.set()
        for launch in self._launches.values():
            if launch.result is None:
                launch.stop.set()
        super().closeEvent(event)


class _Prefs:
    """The window's view of :class:`~landscape.gui.settings.LauncherSettings` (one place
    that knows its methods): recents, favourites, last selection, layout."""

    def __init__(self, settings: Any) -> None:
        self.s = settings
        self.message = getattr(settings, "message", None)

    def recents(self) -> list[Any]:
        return list(self.s.recents)

    def favourites(self) -> list[Any]:
        return list(self.s.favourites)

    def add_recent(self, context: Path, tool: str, variant: str | None,
                   exit_code: int | None) -> None:
        self.s.add_recent(context, tool, variant, exit_code)

    def is_favourite(self, context: Path, tool: str | None = None) -> bool:
        return bool(self.s.is_favourite(context, tool))

    def toggle_favourite(self, context: Path, tool: str | None = None) -> bool:
        return bool(self.s.toggle_favourite(context, tool))

    def last_selection(self) -> tuple[str, str | None] | None:
        last = self.s.last_selection
        if not last:
            return None
        return last.context, last.tool

    def set_last_selection(self, context: Path, tool: str | None) -> None:
        self.s.set_last_selection(context, tool)

    def layout(self) -> dict[str, str]:
        return dict(self.s.layout or {})

    def set_layout(self, layout: dict[str, str]) -> None:
        self.s.set_layout(layout)


def _is_user_error(e: BaseException) -> bool:
    from ..errors import LandscapeError

    return isinstance(e, (LandscapeError, OSError))


def make_window(root: Path | None, backend: Any, settings: Path,
                select: Path | None = None, tool: str | None = None,
                fallback: Path | None = None) -> QMainWindow:
    """The launcher window over ``backend`` (a :class:`~landscape.gui.backend.Backend` or a
    fake with its methods), keeping per-user state in the folder ``settings``
    (:class:`~landscape.gui.settings.LauncherSettings`), opening with the context ``select``
    (else the last selection when it lies in this studio, else ``fallback``, else the
    studio root) and ``tool`` selected.

    A QApplication must exist. The window is not shown. Raises nothing for a missing root or
    a broken config: those become messages in the window."""
    from .settings import LauncherSettings

    return LauncherWindow(root, backend, _Prefs(LauncherSettings(Path(settings))),
                          select=select, tool=tool, fallback=fallback)
