"""The environment registry: every environment declares ``SPEC = EnvSpec(...)`` in its module or package.

Built-ins and plugins are declared the same way, a name and where its spec lives, and loaded the same way:

* a built-in is a line of :data:`BUILTIN_MODULES`: a module for a small env (``"sql": "lbi.envs.sql"``), a
  package whose face gives ``SPEC`` for a family (``"repo": "lbi.envs.repo"``), ``module:NAME`` for a second
  spec of a family (``"trac": "lbi.envs.web:TRAC_SPEC"``); adding one = a new module or folder + that line;
* a plugin is an installed package that names its spec in the entry point group ``lbi.envs``
  (``toy = "toy_env:SPEC"`` under ``[project.entry-points."lbi.envs"]`` of its ``pyproject.toml``);
* :func:`register_env` adds a spec built in code (tests, notebooks).

A module is imported when its env is first asked for (``make_env("sql")`` imports ``lbi.envs.sql`` only),
so neither ``import lbi.envs`` nor an SQL rollout pays for Playwright; ``list_envs()`` needs no import.

Options are validated by the spec's pydantic model (``extra="forbid"``): a typo in ``[env] options`` of
``lbi.toml`` is an :class:`EnvOptionsError` naming the allowed options, never a ``TypeError``.
"""

from __future__ import annotations

import difflib
import importlib
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from lbi.config import JudgeSpec, ModelsConfig
from lbi.envs.base import EnvError, UnknownEnv

if TYPE_CHECKING:
    from lbi.envs.base import Env

BUILTIN_MODULES: dict[str, str] = {
    "web": "lbi.envs.web",
    "trac": "lbi.envs.web:TRAC_SPEC",
    "sql": "lbi.envs.sql",
    "shell": "lbi.envs.shell",
    "repo": "lbi.envs.repo",
    "browsergym": "lbi.envs.browsergym",
    "desktop": "lbi.envs.desktop",
}
"""Name → where its spec is: ``module`` (its ``SPEC``) or ``module:NAME``."""
ENTRY_POINT_GROUP = "lbi.envs"


class EnvOptionsError(EnvError):
    """The options given to an environment do not fit its options model."""


class EnvOptions(BaseModel):
    """Options every environment accepts; each env's model extends it. Unknown names are refused."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    screenshot_dir: Path | None = Field(
        default=None,
        description="Where screenshots go (rollouts set the project's screenshots/ folder); "
        "environments without a screen ignore it.",
    )

    def kwargs(self, *exclude: str) -> dict[str, Any]:
        """The options as keyword arguments (objects as given: a shared browser stays that browser)."""
        return {name: getattr(self, name) for name in type(self).model_fields if name not in exclude}


class ScreenOptions(EnvOptions):
    """Options of environments with a screen (``web``, ``trac``, ``desktop``)."""

    screenshots: bool = Field(default=True, description="Save a PNG per step (needs screenshot_dir).")
    highlight: bool = Field(
        default=True,
        description="Also save the previous screenshot with a red box around the element an action targeted.",
    )


@dataclass(frozen=True)
class ConformanceContext:
    """What a spec's ``conformance`` callable may use to build test options.

    ``resource(name)`` returns a shared test resource: ``browser`` (a BrowserSession), ``site_url`` (a
    small local site), ``trac_demo`` (a running TracDemo), ``trac_db`` (the seeded Trac database)."""

    tmp_path: Path
    resource: Callable[[str], Any]


@dataclass(frozen=True)
class EnvSpec:
    """Everything lbi needs to know about one environment."""

    name: str
    """Registry name, as in ``[env] name`` of lbi.toml and ``Task.env``."""
    factory: Callable[[Any], Env]
    """Builds the env from a validated instance of ``options``."""
    options: type[EnvOptions] = EnvOptions
    """The pydantic options model (``extra="forbid"``)."""
    description: str = ""
    """One line for ``lbi env list``."""
    default_docs: Callable[[], Path | None] | None = None
    """The environment's own documentation, loaded when a project has none (``None``: no default)."""
    options_docs: Callable[[Any], Path | None] | None = None
    """Documentation that depends on the options (``repo``: the repository's README, docs/ and docstrings), given
    the validated options; it comes before ``default_docs`` when options are known."""
    conformance: Callable[[ConformanceContext], dict[str, Any]] | None = None
    """Options the conformance test builds the env with (``None``: the defaults)."""
    try_options: Mapping[str, Any] = field(default_factory=dict)
    """Options for a person trying the env by hand (``lbi env try``, ``lbi env check-tasks``)."""
    shipped_options: tuple[str, ...] = ()
    """Options naming a file or folder the env reads (``sql``: ``db``): the Ray executor ships them from the
    driver to every worker node (``lbi.cluster.shipping``)."""
    replay_judge: bool = False
    """A new project (``lbi init``) gets a ``replay`` judge in its committee: what a step changed is not in its
    recorded observation (``repo``: the diff), and the grounding rule reads it from the replay; without it,
    ``grounding`` is at chance there on the judge benchmark."""

    def judges(self) -> list[JudgeSpec]:
        """The committee a new project in this env starts with (``lbi init``, the demos): the default one, and a
        ``replay`` judge where ``replay_judge``."""
        judges = ModelsConfig().judges
        return [*judges, JudgeSpec(name="replay", focus="replay")] if self.replay_judge else judges

    def validate(self, options: Mapping[str, Any]) -> EnvOptions:
        """The options as the env's model, or an :class:`EnvOptionsError` that reads well."""
        try:
            return self.options.model_validate(dict(options))
        except ValidationError as err:
            raise EnvOptionsError(self._explain(err)) from None

    def make(self, **options: Any) -> Env:
        return self.factory(self.validate(options))

    def docs(self, options: Mapping[str, Any] | None = None) -> Path | None:
        """The environment's documentation: from ``options_docs`` when options are given and the spec has it,
        else ``default_docs``."""
        if options is not None and self.options_docs is not None:
            return self.options_docs(self.validate(options))
        return self.default_docs() if self.default_docs else None

    def option_fields(self) -> dict[str, str]:
        """Option name → one-line help (type, default, description), in declaration order."""
        out = {}
        for name, info in self.options.model_fields.items():
            kind = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
            default = "required" if info.is_required() else f"default {info.default!r}"
            out[name] = f"{kind}, {default}" + (f": {info.description}" if info.description else "")
        return out

    def parse_strings(self, pairs: list[str], base: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``["key=value", ...]`` (from the command line) → validated options as TOML-ready values. Each value
        is typed by the model's field: the text as it is when the field takes it, else read as a TOML value
        (``5``, ``true``, ``["a", "b"]``); a relative path becomes absolute (relative to the current directory).
        The pairs are validated together with the ``base`` options they will be added to."""
        raw: dict[str, Any] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise EnvOptionsError(f"option {pair!r} is not key=value (e.g. --option db=shop.db)")
            raw[key] = self._typed(key, value)
        valid = self.validate({**(base or {}), **raw})
        out: dict[str, Any] = {}
        for key in raw:
            value = getattr(valid, key)
            out[key] = (
                str(value.expanduser().resolve())
                if isinstance(value, Path)
                else valid.model_dump(mode="json", include={key})[key]
            )
        return out

    def _typed(self, key: str, value: str) -> Any:
        info = self.options.model_fields.get(key)
        if info is None or info.annotation is None:  # (pydantic fields always have an annotation)
            return value  # validate() names the allowed options
        adapter: TypeAdapter[Any] = TypeAdapter(info.annotation)
        try:
            adapter.validate_python(value)
            return value
        except ValidationError:
            pass
        try:
            return tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            return value  # validate() says what is wrong with it

    def _explain(self, err: ValidationError) -> str:
        fields = self.options.model_fields
        problems = []
        for e in err.errors():
            name = ".".join(str(p) for p in e["loc"]) or "options"
            if e["type"] == "extra_forbidden":
                close = difflib.get_close_matches(name, list(fields), n=1)
                problems.append(f"unknown option {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            elif e["type"] == "missing":
                about = fields[name].description if name in fields else None
                problems.append(
                    f"missing option {name!r}" + (f" ({about[0].lower()}{about[1:].rstrip('.')})" if about else "")
                )
            elif e["type"] == "value_error":
                problems.append(f"option {name!r}: {e['msg'].removeprefix('Value error, ')}")
            else:
                problems.append(f"option {name!r}: {e['msg']} (got {e.get('input')!r})")
        return f"{self.name} environment: {'; '.join(problems)}. Its options: {', '.join(fields)}."


_SPECS: dict[str, EnvSpec] = {}  # loaded
_DECLARED: dict[str, tuple[str, Callable[[], Any]]] = {}  # name -> (where, load); loaded on first use
_scanned = False


def register_env(spec: EnvSpec, *, replace: bool = False) -> None:
    """Register a spec built in code (built-in modules and plugins are declared by name, see the module doc)."""
    if not isinstance(spec, EnvSpec):
        raise TypeError(f"register_env() takes an EnvSpec, not {type(spec).__name__}")
    if spec.name in list_envs() and not replace:
        raise ValueError(f"an environment named {spec.name!r} is already registered")
    _DECLARED.pop(spec.name, None)
    _SPECS[spec.name] = spec


def unregister_env(name: str) -> None:
    _SPECS.pop(name, None)
    _DECLARED.pop(name, None)


def load_envs(*, refresh: bool = False) -> None:
    """Declare the built-ins and the ``lbi.envs`` entry points (once; ``refresh`` scans the entry points
    again, e.g. after installing a plugin). Nothing is imported until an env is asked for."""
    global _scanned
    if _scanned and not refresh:
        return
    _scanned = True
    for name, where in BUILTIN_MODULES.items():
        _declare(name, where, partial(builtin_spec, where))
    from importlib.metadata import entry_points

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        _declare(ep.name, f"the entry point {ep.name} = {ep.value} (group {ENTRY_POINT_GROUP})", ep.load)


def builtin_spec(where: str) -> Any:
    """The object a :data:`BUILTIN_MODULES` entry names (``module`` → its ``SPEC``, ``module:NAME``)."""
    module, _, attr = where.partition(":")
    return getattr(importlib.import_module(module), attr or "SPEC")


def _declare(name: str, where: str, load: Callable[[], Any]) -> None:
    if name not in _SPECS and name not in _DECLARED:
        _DECLARED[name] = (where, load)


def env_spec(name: str) -> EnvSpec:
    load_envs()
    if name in _DECLARED:
        where, load = _DECLARED[name]
        spec = load()
        if not isinstance(spec, EnvSpec) or spec.name != name:
            raise EnvError(f"{where} must give the EnvSpec of {name!r}, not {spec!r:.80}")
        _SPECS[name] = spec
        del _DECLARED[name]
    try:
        return _SPECS[name]
    except KeyError:
        raise UnknownEnv(f"unknown environment {name!r}; registered: {', '.join(list_envs())}") from None


def make_env(name: str, **options: Any) -> Env:
    """Build the environment registered under ``name`` with ``options`` (validated by its spec)."""
    return env_spec(name).make(**options)


def list_envs() -> list[str]:
    load_envs()
    return sorted({*_SPECS, *_DECLARED})


def describe_env(name: str) -> str:
    return env_spec(name).description
