"""Reading an application's AT-SPI accessibility tree (for the desktop worker; Debian's python, ``gi`` only).

``snapshot`` walks the application's showing windows and returns plain nodes: a ``path`` that names the node by
its ancestors' roles and names (the client turns it into a stable id), role, name, text, states, screen box and
depth. Only what is showing is read: hidden subtrees (closed menus, other tabs) are skipped whole, nameless
layout containers are flattened away, and a spreadsheet's table (a million rows) is read as its visible cells
only, of which the non-empty ones, the focused and the selected ones are returned.
"""

from __future__ import annotations

import time

LAYOUT = {
    "panel",
    "filler",
    "scroll pane",
    "viewport",
    "root pane",
    "layered pane",
    "split pane",
    "glass pane",
    "redundant object",
    "unknown",
    "section",
    "grouping",
    "invalid",
}
TEXT_ROLES = {
    "text",
    "entry",
    "combo box",
    "spin button",
    "paragraph",
    "table cell",
    "password text",
    "document text",
    "label",
    "heading",
    "static",
    "list item",
    "editbar",
}
TITLED = {
    "frame",
    "root pane",
    "document spreadsheet",
    "document text",
    "document frame",
    "document presentation",
    "document web",
}  # named after the document: left out of paths, so ids do not depend on it
STATES = ("focused", "selected", "checked", "pressed", "expanded", "active", "indeterminate")
BIG_TABLE = 5000
TEXT_LIMIT = 200


class Hung(Exception):
    """The application stopped answering accessibility calls."""


class Walk:
    def __init__(self, atspi, max_nodes: int, max_cells: int, cells: bool = True) -> None:
        self.atspi = atspi
        self.cells = cells
        self.nodes: list[dict] = []
        self.max_nodes = max_nodes
        self.max_cells = max_cells
        self.errors = 0
        self.truncated = False
        self.focused: str | None = None
        self.table_s = 0.0
        self.offset = (0, 0)

    def call(self, fn, *args):
        try:
            return fn(*args)
        except Exception as err:  # noqa: BLE001 - GLib.Error: a vanished node or a timeout
            if _timed_out(err):
                raise Hung(str(err)) from None
            self.errors += 1
            return None

    def states(self, node) -> tuple[bool, list[str]]:
        state_set = self.call(node.get_state_set)
        if state_set is None:
            return False, []
        st = self.atspi.StateType
        showing = state_set.contains(st.SHOWING) and state_set.contains(st.VISIBLE)
        names = [name for name in STATES if state_set.contains(getattr(st, name.upper()))]
        if not state_set.contains(st.ENABLED) and not state_set.contains(st.SENSITIVE):
            names.append("disabled")
        if state_set.contains(st.EDITABLE):
            names.append("editable")
        return showing, names

    def box(self, node) -> list[int] | None:
        ext = self.call(self.atspi.Component.get_extents, node, self.atspi.CoordType.SCREEN)
        if ext is None or ext.width <= 0 or ext.height <= 0:
            return None
        return [ext.x + self.offset[0], ext.y + self.offset[1], ext.width, ext.height]

    def text(self, node, role: str) -> str | None:
        if role not in TEXT_ROLES:
            return None
        count = self.call(self.atspi.Text.get_character_count, node)
        if not count:
            return None
        text = self.call(self.atspi.Text.get_text, node, 0, min(count, TEXT_LIMIT))
        return None if text is None else text + ("…" if count > TEXT_LIMIT else "")

    def add(self, **node) -> None:
        if len(self.nodes) >= self.max_nodes:
            self.truncated = True
            return
        self.nodes.append(node)
        if "focused" in node["states"]:
            self.focused = node["path"]

    def walk(self, node, parent: str, seen: dict[str, int], depth: int, force: bool = False) -> None:
        """One node (if showing) and its showing descendants; ``seen`` numbers same-named siblings in paths."""
        if len(self.nodes) >= self.max_nodes:
            self.truncated = True
            return
        showing, states = self.states(node)
        if not showing and not force:
            return
        role = self.call(node.get_role_name) or "unknown"
        name = (self.call(node.get_name) or "").strip()
        key = f"{role}:{name}" if name and role not in TITLED else role
        seen[key] = seen.get(key, 0) + 1
        path = (f"{parent}/" if parent else "") + (key if seen[key] == 1 else f"{key}#{seen[key]}")
        count = self.call(node.get_child_count) or 0
        if role == "root pane" or (role == "filler" and self.offset != (0, 0)):
            saved = self.offset  # GTK widgets welded into LibreOffice's own (under a filler) report true places
            self.offset = self.root_pane_offset(node) if role == "root pane" else (0, 0)
            try:
                self.walk_children(node, role, name, path, states, count, depth, force)
            finally:
                self.offset = saved
            return
        self.walk_children(node, role, name, path, states, count, depth, force)

    def root_pane_offset(self, node) -> tuple[int, int]:
        """LibreOffice's GTK frame reports its own widgets relative to the window content below GTK's native menu
        bar: the root pane says it starts at the frame's top while it really starts below the menu bar, which is
        the frame's height minus the root pane's. The offset moves everything inside it to where it shows."""
        comp, coord = self.atspi.Component, self.atspi.CoordType.SCREEN
        own = self.call(comp.get_extents, node, coord)
        parent = self.call(node.get_parent)
        outer = self.call(comp.get_extents, parent, coord) if parent is not None else None
        if own is None or outer is None or own.y != outer.y or not 0 < outer.height - own.height < 80:
            return self.offset
        return (self.offset[0], self.offset[1] + outer.height - own.height)

    def walk_children(
        self, node, role: str, name: str, path: str, states: list[str], count: int, depth: int, force: bool
    ) -> None:
        if role == "table" and count > BIG_TABLE:
            started = time.monotonic()
            self.table(node, path, name, depth, states)
            self.table_s += time.monotonic() - started
            return
        shown = bool(name) or role not in LAYOUT or "focused" in states
        if shown:
            box = self.box(node)
            if box is None and not force:
                return  # a zero-size widget (a hidden duplicate menu bar, a collapsed separator): nothing shows
            self.add(path=path, role=role, name=name, text=self.text(node, role), states=states, box=box, depth=depth)
        if role == "menu" and not {"expanded", "selected", "focused"} & set(states):
            return  # a closed menu's items are not on screen
        children: dict[str, int] = {}
        for i in range(min(count, 2000)):
            child = self.call(node.get_child_at_index, i)
            if child is not None:
                self.walk(child, path, children, depth + 1 if shown else depth)

    def table(self, node, path: str, name: str, depth: int, states: list[str]) -> None:
        """A spreadsheet: the visible range, then its non-empty, focused or selected cells."""
        box = self.box(node)
        if not self.cells:  # the layout only
            self.add(path=path, role="table", name=name, text=None, states=states, box=box, depth=depth)
            return
        tbl, comp, coord = self.atspi.Table, self.atspi.Component, self.atspi.CoordType.SCREEN
        corners = []
        if box:
            x, y, w, h = box[0] - self.offset[0], box[1] - self.offset[1], box[2], box[3]  # as the app sees it
            for px, py in ((x + 2, y + 2), (x + w - 3, y + h - 3)):
                cell = self.call(comp.get_accessible_at_point, node, px, py, coord)
                index = self.call(cell.get_index_in_parent) if cell is not None else None
                if index is None or index < 0:
                    break
                corners.append(
                    (
                        self.call(tbl.get_row_at_index, node, index),
                        self.call(tbl.get_column_at_index, node, index),
                        self.call(cell.get_name),
                    )
                )
        visible = f"{corners[0][2]}:{corners[1][2]}" if len(corners) == 2 else ""
        self.add(path=path, role="table", name=name, text=None, states=states, box=box, depth=depth, visible=visible)
        if len(corners) != 2 or None in (*corners[0][:2], *corners[1][:2]):
            return
        (r0, c0, _), (r1, c1, _) = corners
        table_node = self.nodes[-1] if self.nodes and self.nodes[-1]["path"] == path else {}
        grid: dict[str, dict[str, list[int]]] = {"cols": {}, "rows": {}}
        for col in range(c0, c1 + 1):  # column letters and x spans from the first visible row
            cell = self.call(tbl.get_accessible_at, node, r0, col)
            name_, box_ = (self.call(cell.get_name), self.box(cell)) if cell is not None else (None, None)
            if name_ and box_:
                grid["cols"][name_.rstrip("0123456789")] = [box_[0], box_[2]]
        for row in range(r0, r1 + 1):  # row numbers and y spans from the first visible column
            cell = self.call(tbl.get_accessible_at, node, row, c0)
            name_, box_ = (self.call(cell.get_name), self.box(cell)) if cell is not None else (None, None)
            if name_ and box_:
                grid["rows"][name_.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")] = [box_[1], box_[3]]
        table_node["grid"] = grid
        shown = 0
        for row in range(r0, r1 + 1):
            for col in range(c0, c1 + 1):
                cell = self.call(tbl.get_accessible_at, node, row, col)
                if cell is None:
                    continue
                text = self.text(cell, "table cell")
                if not text:
                    continue
                if shown >= self.max_cells:
                    self.truncated = True
                    return
                shown += 1
                cname = self.call(cell.get_name) or f"R{row + 1}C{col + 1}"
                _, cstates = self.states(cell)
                self.add(
                    path=f"{path}/cell:{cname}",
                    role="table cell",
                    name=cname,
                    text=text,
                    states=cstates,
                    box=self.box(cell),
                    depth=depth + 1,
                    cell=cname,
                )


def _timed_out(err: Exception) -> bool:
    text = str(err).lower()
    return "timeout" in text or "timed out" in text or "noreply" in text or "did not receive a reply" in text


def app_of(atspi, pid: int):
    desktop = atspi.get_desktop(0)
    for i in range(desktop.get_child_count()):
        app = desktop.get_child_at_index(i)
        try:
            if app is not None and app.get_process_id() == pid:
                return app
        except Exception as err:  # noqa: BLE001 - an application that went away meanwhile, or ours hung
            if _timed_out(err):
                raise Hung(str(err)) from None
            continue
    return None


def windows(atspi, app) -> list:
    out = []
    for i in range(app.get_child_count()):
        win = app.get_child_at_index(i)
        if win is None:
            continue
        state_set = win.get_state_set()
        if state_set.contains(atspi.StateType.SHOWING):
            out.append(win)
    return out


def find_window(atspi, pid: int, match: str):
    """The application's first showing window whose title contains ``match``, or None."""
    try:
        app = app_of(atspi, pid)
        if app is None:
            return None
        for win in windows(atspi, app):
            if match in (win.get_name() or ""):
                return win
    except Exception:  # noqa: BLE001 - still starting: its accessible objects come and go
        return None
    return None


def snapshot(atspi, pid: int, *, max_nodes: int, max_cells: int, cells: bool = True) -> dict:
    """Every showing window of the application ``pid``: nodes, the focused node's path, the active window
    (``cells=False``: a sheet's cells are not read, for a quick look at the layout)."""
    started = time.monotonic()
    walk = Walk(atspi, max_nodes, max_cells, cells)
    active = title = None
    try:
        app = app_of(atspi, pid)
        if app is None:
            return {"nodes": [], "error": "the application has no accessible object (not started, or gone)"}
        try:
            wins = windows(atspi, app)
        except Exception as err:  # noqa: BLE001 - see Walk.call
            if _timed_out(err):
                raise Hung(str(err)) from None
            raise
        seen: dict[str, int] = {}
        for win in wins:
            first = len(walk.nodes)
            walk.walk(win, "", seen, 0, force=True)
            if len(walk.nodes) > first and "active" in walk.nodes[first]["states"]:
                active, title = walk.nodes[first]["path"], walk.nodes[first]["name"]
    except Hung as err:
        return {
            "nodes": walk.nodes,
            "hung": True,
            "error": f"the application does not answer: {err}",
            "seconds": round(time.monotonic() - started, 3),
        }
    if title is None and walk.nodes:
        title = walk.nodes[0]["name"]
    return {
        "nodes": walk.nodes,
        "focused": walk.focused,
        "active": active,
        "title": title,
        "truncated": walk.truncated,
        "errors": walk.errors,
        "table_s": round(walk.table_s, 3),
        "seconds": round(time.monotonic() - started, 3),
    }
