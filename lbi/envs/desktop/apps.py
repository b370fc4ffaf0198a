"""The applications the desktop environment can run (LibreOffice Calc for now), each with its pristine profile.

An :class:`App` says how to start the program on a document, which window title means it is up, where its
offline help lives, and how to build a pristine user profile once (cached under ``$LBI_CACHE_DIR`` or
``~/.cache/lbi/desktop``, keyed by the program's version) that every reset copies back.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lbi.envs.base import EnvCrashed

SOFFICE = Path("/usr/lib/libreoffice/program/soffice.bin")
LO_HELP = Path("/usr/share/libreoffice/help/en-US/text/scalc/guide")  # the how-to pages (97)

# Settings of the pristine LibreOffice profile: no dialogs an agent did not cause (tip of the day, what's new,
# keep-format question, document recovery), LibreOffice's own file dialogs (accessible like the rest), and no
# autocompletion or autocorrection, so typed text is what ends up in the cell.
LO_SETTINGS: dict[str, dict[str, str]] = {
    "/org.openoffice.Office.Common/Save/Document": {"WarnAlienFormat": "false", "CreateBackup": "false"},
    "/org.openoffice.Office.Common/Misc": {
        "ShowTipOfTheDay": "false",
        "FirstRun": "false",
        "UseSystemFileDialog": "false",
        "UseSystemPrintDialog": "false",
    },
    "/org.openoffice.Setup/Product": {"ooSetupLastVersion": "99.9"},
    "/org.openoffice.Office.Recovery/AutoSave": {"Enabled": "false"},
    "/org.openoffice.Office.Recovery/RecoveryInfo": {"Enabled": "false"},
    "/org.openoffice.Office.Calc/Input": {"AutoInput": "false"},
    "/org.openoffice.Office.Common/AutoCorrect": {
        "CapitalAtStartSentence": "false",
        "TwoInitialCapital": "false",
        "ReplaceDoubleQuote": "false",
        "ReplaceSingleQuote": "false",
        "ChangeDash": "false",
        "ChangeOrdinalNumber": "false",
        "SetInetAttr": "false",
        "ChangeUnderlineWeight": "false",
        "AddNonBreakingSpace": "false",
        "CorrectAccidentalCapsLock": "false",
    },
}


@dataclass(frozen=True)
class App:
    """One desktop application."""

    name: str
    program: Path
    argv: Callable[[Path, Path | None], list[str]]
    """(profile dir, document or None) → the command line."""
    title: Callable[[Path | None], str]
    """The text a ready window's title contains, for a document (or None)."""
    build_profile: Callable[[Path], None]
    """Fill an empty directory with a pristine profile."""
    env: dict[str, str] = field(default_factory=dict)
    help_dir: Path | None = None
    package: str = ""
    """The Debian package that provides it."""

    def version(self) -> str:
        if not self.program.exists():
            raise EnvCrashed(f"{self.program} not found: install the Debian package {self.package} (`make setup` does)")
        stat = self.program.stat()
        return hashlib.sha256(f"{self.program}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:12]

    def pristine_profile(self, cache_dir: Path | None = None) -> Path:
        """The pristine profile, built once per program version."""
        root = cache_dir or Path(os.environ.get("LBI_CACHE_DIR") or Path.home() / ".cache" / "lbi") / "desktop"
        target = root / f"{self.name}-profile-{self.version()}"
        if (target / ".lbi-ready").exists():
            return target
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{self.name}-profile-", dir=root))
        self.build_profile(tmp)
        (tmp / ".lbi-ready").write_text("built by lbi\n")
        try:
            tmp.rename(target)
        except OSError:  # another worker built it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)
        return target


def _lo_uri(profile: Path) -> str:
    return f"-env:UserInstallation=file://{profile.resolve()}"


def _calc_argv(profile: Path, document: Path | None) -> list[str]:
    argv = [str(SOFFICE), "--norestore", "--nologo", "--nofirststartwizard", "--nolockcheck", _lo_uri(profile)]
    return [*argv, str(document)] if document else [*argv, "--calc"]


def _calc_title(document: Path | None) -> str:
    return document.name if document else "LibreOffice Calc"


def _build_lo_profile(profile: Path) -> None:
    """Let LibreOffice create its profile (it exits with 81, "restart", the first time), then write the
    settings above into ``registrymodifications.xcu``."""
    for _ in range(3):
        res = subprocess.run(
            [str(SOFFICE), "--headless", "--terminate_after_init", "--norestore", _lo_uri(profile)],
            capture_output=True,
            timeout=120,
            check=False,
            env={**os.environ, "SAL_USE_VCLPLUGIN": "svp"},
        )
        if res.returncode == 0 and (profile / "user" / "registrymodifications.xcu").exists():
            break
    else:
        raise EnvCrashed(
            f"LibreOffice could not create a profile in {profile}: {res.stderr.decode(errors='replace')[-500:]}"
        )
    xcu = profile / "user" / "registrymodifications.xcu"
    items = "".join(
        f'<item oor:path="{path}"><prop oor:name="{name}" oor:op="fuse"><value>{value}</value></prop></item>\n'
        for path, props in LO_SETTINGS.items()
        for name, value in props.items()
    )
    text = xcu.read_text(encoding="utf-8")
    xcu.write_text(text.replace("</oor:items>", items + "</oor:items>"), encoding="utf-8")


APPS: dict[str, App] = {
    "calc": App(
        name="calc",
        program=SOFFICE,
        argv=_calc_argv,
        title=_calc_title,
        build_profile=_build_lo_profile,
        env={"SAL_USE_VCLPLUGIN": "gtk3"},
        help_dir=LO_HELP,
        package="libreoffice-calc",
    ),
}
