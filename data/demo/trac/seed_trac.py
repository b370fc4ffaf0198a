"""Seed a freshly initialised Trac environment with the lbi demo data.

Runs inside Trac's own virtual environment (``.venv-trac/bin/python``), never in
lbi's: ``python seed_trac.py ENV_DIR``. Everything is deterministic (fixed
timestamps, fixed order), so two builds give the same database and the held-out
tasks in ``data/demo/tasks/`` can name tickets by number.

What it creates (see ``data/demo/trac/README.md`` for the full list):
  * users alice, bob, carol, dave (sessions with name + e-mail, group ``developer``)
  * components backend, frontend, docs, infra; milestones 1.0 (completed), 1.1, 2.0,
    Backlog; versions 0.9, 1.0
  * 20 tickets with comments and status changes
  * project wiki pages (ProjectGuide, ReleaseProcess, CodingGuidelines, TeamContacts,
    MeetingNotes) next to Trac's own user guide pages
  * permissions: ``anonymous`` may view, create and edit everything an agent needs
    (TICKET_ADMIN, MILESTONE_ADMIN, WIKI_ADMIN, REPORT_ADMIN) but not TRAC_ADMIN,
    so trac.ini cannot be changed through the web UI.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

from trac.env import Environment
from trac.perm import PermissionSystem
from trac.ticket.model import Component, Milestone, Ticket, Version
from trac.wiki.model import WikiPage

T0 = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)

USERS = [
    ("alice", "Alice Anders", "alice@example.org"),
    ("bob", "Bob Brown", "bob@example.org"),
    ("carol", "Carol Chen", "carol@example.org"),
    ("dave", "Dave Diaz", "dave@example.org"),
]

COMPONENTS = [
    ("backend", "alice", "Server, API and database code."),
    ("frontend", "bob", "Web user interface."),
    ("docs", "carol", "User and developer documentation."),
    ("infra", "dave", "Build, CI and deployment."),
]

# name, due (days after T0 or None), completed (days after T0 or None), description
MILESTONES = [
    ("1.0", 30, 29, "First public release."),
    ("1.1", 420, None, "Bug-fix release: login and export problems."),
    ("2.0", 600, None, "New dashboard and REST API."),
    ("Backlog", None, None, "Ideas without a release yet."),
]

VERSIONS = [("0.9", 0), ("1.0", 29)]

# summary, type, component, priority, milestone, version, owner, reporter, keywords,
# description
TICKETS = [
    (
        "Login fails when password contains a colon",
        "defect",
        "backend",
        "critical",
        "1.1",
        "1.0",
        "alice",
        "bob",
        "login auth",
        "Users whose password contains ':' cannot log in; the server answers 401.",
    ),
    (
        "Export to CSV drops the last row",
        "defect",
        "backend",
        "major",
        "1.1",
        "1.0",
        "alice",
        "carol",
        "export csv",
        "The CSV export omits the final record.",
    ),
    (
        "Dashboard shows wrong totals after midnight",
        "defect",
        "frontend",
        "major",
        "1.1",
        "1.0",
        "bob",
        "dave",
        "dashboard",
        "Totals are computed in the browser's timezone instead of UTC.",
    ),
    (
        "Add dark mode",
        "enhancement",
        "frontend",
        "minor",
        "2.0",
        "",
        "bob",
        "alice",
        "ui theme",
        "Offer a dark colour scheme that follows the OS preference.",
    ),
    (
        "Document the export API",
        "task",
        "docs",
        "minor",
        "1.1",
        "1.0",
        "carol",
        "alice",
        "export api",
        "Write a reference page for the export endpoints.",
    ),
    (
        "CI builds take more than 30 minutes",
        "defect",
        "infra",
        "major",
        "1.1",
        "",
        "dave",
        "bob",
        "ci performance",
        "Cache dependencies between CI runs.",
    ),
    (
        "REST API for tickets",
        "enhancement",
        "backend",
        "major",
        "2.0",
        "",
        "alice",
        "carol",
        "api",
        "Expose tickets as JSON over a versioned REST API.",
    ),
    (
        "Typo on the welcome page",
        "defect",
        "docs",
        "trivial",
        "1.0",
        "0.9",
        "carol",
        "dave",
        "typo",
        "'Welcom' should read 'Welcome'.",
    ),
    (
        "Upgrade the database driver",
        "task",
        "infra",
        "minor",
        "Backlog",
        "",
        "dave",
        "alice",
        "database",
        "The driver we use is two major versions behind.",
    ),
    (
        "Search ignores accented characters",
        "defect",
        "backend",
        "minor",
        "2.0",
        "1.0",
        "alice",
        "bob",
        "search i18n",
        "Searching for 'cafe' should find 'café'.",
    ),
    (
        "Keyboard shortcuts for the ticket list",
        "enhancement",
        "frontend",
        "trivial",
        "Backlog",
        "",
        "bob",
        "carol",
        "ui keyboard",
        "j/k to move, o to open.",
    ),
    (
        "Installation guide is out of date",
        "defect",
        "docs",
        "major",
        "1.1",
        "1.0",
        "carol",
        "dave",
        "install",
        "The guide still mentions Python 2.",
    ),
    (
        "Nightly backup job fails silently",
        "defect",
        "infra",
        "blocker",
        "1.1",
        "1.0",
        "dave",
        "alice",
        "backup",
        "The backup cron job exits 1 but nobody is told.",
    ),
    (
        "Session expires too quickly",
        "defect",
        "backend",
        "major",
        "1.0",
        "0.9",
        "alice",
        "carol",
        "login session",
        "Sessions expire after 5 minutes.",
    ),
    (
        "Make the sidebar collapsible",
        "enhancement",
        "frontend",
        "minor",
        "2.0",
        "",
        "bob",
        "dave",
        "ui",
        "Allow hiding the sidebar on small screens.",
    ),
    (
        "Write a contributor guide",
        "task",
        "docs",
        "major",
        "2.0",
        "",
        "carol",
        "bob",
        "community",
        "Explain how to set up a development environment and send patches.",
    ),
    (
        "Rotate TLS certificates automatically",
        "task",
        "infra",
        "critical",
        "1.1",
        "",
        "dave",
        "carol",
        "security tls",
        "Use ACME to renew certificates.",
    ),
    (
        "Crash when uploading an empty file",
        "defect",
        "backend",
        "blocker",
        "1.0",
        "0.9",
        "alice",
        "dave",
        "upload",
        "A zero-byte upload raises ZeroDivisionError.",
    ),
    (
        "Broken link in the footer",
        "defect",
        "frontend",
        "trivial",
        "1.0",
        "0.9",
        "bob",
        "alice",
        "ui",
        "The 'Privacy' link points to a 404 page.",
    ),
    (
        "Evaluate a new charting library",
        "task",
        "frontend",
        "minor",
        "Backlog",
        "",
        "",
        "bob",
        "research",
        "Compare two charting libraries for the dashboard.",
    ),
]

# ticket id, day offset, author, changes {field: value}, comment
CHANGES = [
    (1, 2, "alice", {"status": "accepted"}, "I can reproduce this; looking at it."),
    (1, 3, "bob", {}, "Same problem with a semicolon."),
    (2, 4, "alice", {}, "The loop stops one row early."),
    (8, 5, "carol", {"status": "closed", "resolution": "fixed"}, "Fixed the typo."),
    (14, 6, "alice", {"status": "closed", "resolution": "fixed"}, "Session lifetime is now 8 hours."),
    (18, 7, "alice", {"status": "closed", "resolution": "fixed"}, "Empty uploads are rejected with a clear message."),
    (19, 8, "bob", {"status": "closed", "resolution": "fixed"}, "Link updated."),
    (11, 9, "bob", {"status": "closed", "resolution": "wontfix"}, "Browsers already provide enough shortcuts."),
    (6, 10, "dave", {"status": "accepted"}, "Starting with the pip cache."),
    (13, 11, "dave", {"priority": "critical"}, "Lowering: backups still run manually."),
    (3, 12, "bob", {"owner": "alice"}, "The totals come from the API; Alice?"),
    (10, 13, "alice", {"status": "closed", "resolution": "duplicate"}, "Duplicate of an older search ticket."),
]

WIKI = {
    "ProjectGuide": """= Project guide =
Welcome to the demo project. We build a small web application.

== Teams ==
 * Backend: alice
 * Frontend: bob
 * Documentation: carol
 * Infrastructure: dave

See ReleaseProcess, CodingGuidelines and TeamContacts.
""",
    "ReleaseProcess": """= Release process =
 1. Freeze the milestone one week before its due date.
 1. Close or move every open ticket of the milestone.
 1. Tag the release and mark the milestone completed.

Release manager: dave.
""",
    "CodingGuidelines": """= Coding guidelines =
 * Python code follows PEP 8, lines at most 100 characters.
 * Every bug fix comes with a regression test.
 * Review: at least one approval before merging.
""",
    "TeamContacts": """= Team contacts =
||= Name =||= Role =||= E-mail =||
|| Alice Anders || Backend lead || alice@example.org ||
|| Bob Brown || Frontend lead || bob@example.org ||
|| Carol Chen || Technical writer || carol@example.org ||
|| Dave Diaz || Operations || dave@example.org ||
""",
    "MeetingNotes": """= Meeting notes =
== 2024-01-15 ==
 * Agreed on the 1.1 scope: login, export, backups.
 * Next meeting: 2024-01-22.
""",
}

ANONYMOUS_PERMS = [
    "TICKET_ADMIN",
    "MILESTONE_ADMIN",
    "WIKI_ADMIN",
    "REPORT_ADMIN",
    "ROADMAP_VIEW",
    "TIMELINE_VIEW",
    "SEARCH_VIEW",
    "BROWSER_VIEW",
    "FILE_VIEW",
    "LOG_VIEW",
    "CHANGESET_VIEW",
    "CONFIG_VIEW",
]


def day(offset: float) -> datetime:
    return T0 + timedelta(days=offset)


def seed(env_dir: str) -> None:
    env = Environment(env_dir)
    env.config.set("project", "descr", "Demo project for lbi (Learn-by-interact)")
    env.config.set("ticket", "restrict_owner", "true")
    env.config.set("trac", "use_chunked_encoding", "false")
    env.config.set("logging", "log_type", "none")
    env.config.set("header_logo", "src", "")
    # absolute ISO dates in UTC: pages do not change with the clock ("3 minutes ago")
    env.config.set("trac", "default_dateinfo_format", "absolute")
    env.config.set("trac", "default_date_format", "iso8601")
    env.config.set("trac", "default_timezone", "UTC")
    env.config.set("header_logo", "alt", "LBI Demo")
    env.config.save()

    with env.db_transaction as db:
        for table in ("component", "milestone", "version"):
            db(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
        db("DELETE FROM enum WHERE type='severity'")
        for sid, name, email in USERS:
            db("INSERT INTO session (sid, authenticated, last_visit) VALUES (%s,1,%s)", (sid, 1704700800))
            db("INSERT INTO session_attribute VALUES (%s,1,'name',%s)", (sid, name))
            db("INSERT INTO session_attribute VALUES (%s,1,'email',%s)", (sid, email))

    perms = PermissionSystem(env)
    for perm in (
        "TICKET_CREATE",
        "TICKET_MODIFY",
        "WIKI_CREATE",
        "WIKI_MODIFY",
        "TICKET_VIEW",
        "WIKI_VIEW",
        "MILESTONE_VIEW",
    ):
        perms.grant_permission("developer", perm)
    for sid, _name, _email in USERS:
        perms.grant_permission(sid, "developer")
    have = set(perms.get_user_permissions("anonymous", expand_meta=False))
    for perm in ANONYMOUS_PERMS:
        if perm not in have:
            perms.grant_permission("anonymous", perm)

    for name, owner, descr in COMPONENTS:
        comp = Component(env)
        comp.name, comp.owner, comp.description = name, owner, descr
        comp.insert()
    for name, due, completed, descr in MILESTONES:
        ms = Milestone(env)
        ms.name, ms.description = name, descr
        ms.due = day(due) if due is not None else None
        ms.completed = day(completed) if completed is not None else None
        ms.insert()
    for name, offset in VERSIONS:
        ver = Version(env)
        ver.name, ver.time = name, day(offset)
        ver.insert()

    for i, row in enumerate(TICKETS):
        (summary, type_, comp, prio, ms, ver, owner, reporter, kw, descr) = row
        tkt = Ticket(env)
        tkt.populate(
            {
                "summary": summary,
                "type": type_,
                "component": comp,
                "priority": prio,
                "milestone": ms,
                "version": ver,
                "owner": owner,
                "reporter": reporter,
                "keywords": kw,
                "description": descr,
                "status": "assigned" if owner else "new",
            }
        )
        tkt.insert(when=day(1 + i * 0.25))
    for tid, offset, author, fields, comment in CHANGES:
        tkt = Ticket(env, tid)
        for key, value in fields.items():
            tkt[key] = value
        tkt.save_changes(author, comment, when=day(10 + offset))

    for i, (name, text) in enumerate(WIKI.items()):
        page = WikiPage(env, name)
        page.text = text
        page.save("carol", "Initial version", t=day(2 + i))
    env.shutdown()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: seed_trac.py ENV_DIR")
    seed(sys.argv[1])
