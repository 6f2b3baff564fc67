"""The component registry: pluggy behind a small typed interface.

Plugins are found through the ``amalg`` entry-point group (amalg's own built-in components
included) and loaded lazily, the first time the registry is used, one at a time: a plugin
that fails to import, or whose hook raises, is recorded as broken and the others load as
usual. A kind's registration hook is called the first time that kind is needed.
``AMALG_DISABLE_PLUGINS=name,...`` skips plugins by entry-point name.

Core code and the CLI use :class:`Registry` methods, never ``pm.hook.*`` directly.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from amalg.core import hookspecs
from amalg.core.component import Component, summary_of
from amalg.core.config import ComponentConfig, ConfigField, describe_fields
from amalg.core.errors import (
    AmalgError,
    DuplicateComponentError,
    InvalidComponentError,
    SettingError,
    UnknownComponentError,
    UnknownKindError,
)

__all__ = [
    "DISABLE_ENV",
    "KINDS",
    "BrokenPlugin",
    "ComponentInfo",
    "KindSpec",
    "PluginInfo",
    "Registry",
    "get_registry",
    "normalize_kind",
    "set_registry",
]

DISABLE_ENV = "AMALG_DISABLE_PLUGINS"
ENTRY_POINT_GROUP = hookspecs.PROJECT
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")


def _contract(attribute: str) -> Callable[[], type[Component]]:
    # The contracts import torch; resolve them only when a kind is loaded.
    def resolve() -> type[Component]:
        from amalg.core import interfaces

        return getattr(interfaces, attribute)

    return resolve


@dataclass(frozen=True)
class KindSpec:
    """A component kind: its singular and plural names, its hook and its contract."""

    kind: str
    plural: str
    hook: str
    contract: Callable[[], type[Component]] = field(repr=False, compare=False)
    aliases: tuple[str, ...] = ()
    """Other words for the kind that commands accept (the design's "optimizee")."""


KINDS: dict[str, KindSpec] = {
    spec.kind: spec
    for spec in (
        KindSpec("teacher", "teachers", "register_teachers", _contract("Teacher")),
        KindSpec("student", "students", "register_students", _contract("Student")),
        KindSpec("scheme", "schemes", "register_schemes", _contract("AmalgamationScheme")),
        KindSpec(
            "perturbation", "perturbations", "register_perturbations", _contract("Perturbation")
        ),
        KindSpec("task", "tasks", "register_tasks", _contract("Task"), ("optimizee", "optimizees")),
        KindSpec(
            "estimator", "estimators", "register_estimators", _contract("MetaGradientEstimator")
        ),
        KindSpec("strategy", "strategies", "register_strategies", _contract("Strategy")),
    )
}


def normalize_kind(text: str) -> str:
    """The singular kind for ``text`` (singular or plural, any case)."""
    word = text.strip().lower()
    for spec in KINDS.values():
        if word in (spec.kind, spec.plural, *spec.aliases):
            return spec.kind
    raise UnknownKindError(text, list(KINDS))


@dataclass(frozen=True)
class PluginInfo:
    """A loaded plugin: its entry-point name and the distribution that declares it."""

    name: str
    package: str | None = None
    version: str | None = None

    @property
    def source(self) -> str:
        """``plugin (package version)``, for messages and tables."""
        if self.package is None:
            return self.name
        return f"{self.name} ({self.package} {self.version})".replace(" None)", ")")

    @property
    def builtin(self) -> bool:
        return self.package == "amalg"


@dataclass(frozen=True)
class BrokenPlugin:
    """A plugin that failed to load or to register, and why."""

    plugin: str
    package: str | None
    version: str | None
    error: str
    traceback: str = ""
    """The formatted traceback when an exception caused the failure (for plugin authors)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin,
            "package": self.package,
            "version": self.version,
            "error": self.error,
            "traceback": self.traceback,
        }


@dataclass(frozen=True)
class ComponentInfo:
    """A registered component: what ``amalg list`` shows and ``amalg.create`` builds."""

    kind: str
    name: str
    summary: str
    plugin: str
    package: str | None
    version: str | None
    config_schema: dict[str, Any] = field(repr=False, compare=False)
    """The JSON schema of the component's config."""
    fields: tuple[ConfigField, ...] = field(repr=False, compare=False)
    """The config fields: type, default, bounds, description."""
    component: type[Component] = field(repr=False, compare=False)

    @property
    def description(self) -> str:
        """The component's whole docstring (the math and the paper reference)."""
        return inspect.cleandoc(vars(self.component).get("__doc__") or "")

    @property
    def config_class(self) -> type[ComponentConfig]:
        return self.component.config_class

    def details(self) -> dict[str, Any]:
        """The facts ``amalg list KIND`` shows for the component with its default config.

        A component that needs config values, or whose ``details`` fails, reports why
        instead: listing must not fail because of one component. A
        :class:`~amalg.core.errors.SettingError` (a data folder setting that names a file,
        say) is raised: it is the environment's problem, not the component's.
        """
        try:
            with _plugin_code():
                return dict(self.component().details())
        except SettingError:
            raise  # the environment, not the component: the command must say so
        except AmalgError as error:
            return {"note": str(error)}
        except Exception as error:
            return {"error": _describe(error)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "summary": self.summary,
            "plugin": self.plugin,
            "package": self.package,
            "version": self.version,
            "config_schema": self.config_schema,
        }


def _disabled_from_env() -> set[str]:
    return {name.strip() for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def _describe(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def _plugin_code() -> contextlib.AbstractContextManager[object]:
    """Where a plugin's prints go while its import or hook runs: stderr, so that what amalg
    writes on stdout (``--json``) stays exactly what amalg meant to write."""
    return contextlib.redirect_stdout(sys.stderr)


class Registry:
    """Plugins and the components they register.

    :param entry_points: the entry points to load; by default those of the ``amalg`` group
        of the installed distributions.
    :param disabled: plugin names to skip; by default those of ``AMALG_DISABLE_PLUGINS``.
    """

    def __init__(
        self,
        entry_points: Iterable[metadata.EntryPoint] | None = None,
        *,
        disabled: Iterable[str] | None = None,
    ) -> None:
        self._entry_points = None if entry_points is None else list(entry_points)
        self._disabled_names = _disabled_from_env() if disabled is None else set(disabled)
        self._pm = pluggy.PluginManager(hookspecs.PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, PluginInfo] = {}
        self._disabled: list[PluginInfo] = []
        # Load problems happen once; hook problems are found again whenever kinds are rebuilt.
        self._load_problems: list[BrokenPlugin] = []
        self._hook_problems: dict[str, list[BrokenPlugin]] = {}
        self._kinds: dict[str, dict[str, ComponentInfo]] = {}
        self._loaded = False

    # -- plugins -------------------------------------------------------------------------

    def add_plugin(
        self, plugin: object, name: str, *, package: str | None = None, version: str | None = None
    ) -> None:
        """Register a plugin object directly (a notebook, a test) as if an entry point named it."""
        self._load_plugins()
        self._register_plugin(plugin, PluginInfo(name, package, version))
        self._kinds.clear()
        self._hook_problems.clear()

    def plugins(self) -> list[PluginInfo]:
        """The plugins that loaded, built-in first."""
        self._load_plugins()
        return list(self._plugins.values())

    def disabled(self) -> list[PluginInfo]:
        """The installed plugins skipped by ``AMALG_DISABLE_PLUGINS``."""
        self._load_plugins()
        return list(self._disabled)

    def unknown_disabled(self) -> list[str]:
        """Names in ``AMALG_DISABLE_PLUGINS`` that no installed plugin has (typos)."""
        self._load_plugins()
        return sorted(self._disabled_names - {plugin.name for plugin in self._disabled})

    def broken(self) -> list[BrokenPlugin]:
        """The plugins that failed to import or to register, with their errors.

        Every kind's hooks are called first, so a failing hook is reported too.
        """
        for kind in KINDS:
            self._components_of(kind)
        return self._load_problems + [p for kind in KINDS for p in self._hook_problems[kind]]

    def _load_plugins(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        entry_points = self._entry_points
        if entry_points is None:
            entry_points = list(metadata.entry_points(group=ENTRY_POINT_GROUP))

        def order(entry_point: metadata.EntryPoint) -> tuple[bool, str, str]:
            # Built-ins first: a third-party plugin reusing a built-in name is the one refused.
            package = entry_point.dist.name if entry_point.dist else ""
            return (package != "amalg", package, entry_point.name)

        for entry_point in sorted(entry_points, key=order):
            dist = entry_point.dist
            info = PluginInfo(
                entry_point.name, dist.name if dist else None, dist.version if dist else None
            )
            if info.name in self._disabled_names:
                self._disabled.append(info)
                continue
            try:
                with _plugin_code():
                    plugin = entry_point.load()
            except KeyboardInterrupt:
                raise
            except BaseException as exc:  # even sys.exit() in a plugin must not end amalg
                error = f"import of {entry_point.value!r} failed: {_describe(exc)}"
                self._load_problems.append(_broken(info, error, exc))
                continue
            self._register_plugin(plugin, info)

    def _register_plugin(self, plugin: object, info: PluginInfo) -> None:
        problem = self._registration_problem(plugin, info)
        if problem:
            self._load_problems.append(_broken(info, problem))
        else:
            self._plugins[info.name] = info

    def _registration_problem(self, plugin: object, info: PluginInfo) -> str:
        if info.name in self._plugins:
            return f"plugin name {info.name!r} is already used by {self._plugins[info.name].source}"
        if self._pm.is_registered(plugin):
            other = self._pm.get_name(plugin)
            return f"its module is already registered as plugin {other!r}"
        try:
            self._pm.register(plugin, name=info.name)
        except Exception as exc:  # pluggy checks hook signatures against the specs here
            return _describe(exc)
        callers = self._pm.get_hookcallers(plugin) or []
        hooks = ", ".join(spec.hook for spec in KINDS.values())
        unknown = sorted(caller.name for caller in callers if not caller.has_spec())
        wrappers = sorted(
            caller.name
            for caller in callers
            for impl in caller.get_hookimpls()
            if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper)
        )
        problem = ""
        if unknown:
            problem = f"implements unknown hook(s) {', '.join(unknown)}; the hooks are {hooks}"
        elif not callers:
            problem = (
                "implements no amalg hook (is each hook decorated with @amalg.hookimpl?); "
                f"the hooks are {hooks}"
            )
        elif wrappers:
            problem = f"declares {', '.join(wrappers)} as a hook wrapper, which amalg does not call"
        if problem:
            self._pm.unregister(plugin)
        return problem

    # -- components ----------------------------------------------------------------------

    def _components_of(self, kind: str) -> dict[str, ComponentInfo]:
        if kind in self._kinds:
            return self._kinds[kind]
        self._load_plugins()
        spec = KINDS[kind]
        contract = spec.contract()
        order = {name: index for index, name in enumerate(self._plugins)}
        hook = getattr(self._pm.hook, spec.hook)
        found: dict[str, ComponentInfo] = {}
        problems: list[BrokenPlugin] = []
        for impl in sorted(hook.get_hookimpls(), key=lambda impl: order[impl.plugin_name]):
            plugin = self._plugins[impl.plugin_name]
            staged: dict[str, ComponentInfo] = {}

            def register(component: type[Component], /) -> None:
                info = _check(spec, contract, component, plugin)  # noqa: B023
                if info.name in staged:  # noqa: B023
                    raise InvalidComponentError(f"{kind} {info.name!r} registered twice")
                staged[info.name] = info  # noqa: B023

            try:
                with _plugin_code():
                    impl.function(**({"register": register} if impl.argnames else {}))
            except Exception as exc:  # keep the other plugins working
                problems.append(_broken(plugin, f"{spec.hook} failed: {_describe(exc)}", exc))
                continue
            for name, info in staged.items():
                if name in found:
                    first = self._plugins[found[name].plugin]
                    error = DuplicateComponentError(kind, name, first.source, plugin.source)
                    problems.append(_broken(plugin, str(error)))
                else:
                    found[name] = info
        self._kinds[kind] = found
        self._hook_problems[kind] = problems
        return found

    def components(self, kind: str | None = None) -> list[ComponentInfo]:
        """Registered components of ``kind`` (all kinds when None), in kind order, by name."""
        kinds = list(KINDS) if kind is None else [normalize_kind(kind)]
        return [info for each in kinds for _, info in sorted(self._components_of(each).items())]

    def get(self, kind: str, name: str) -> ComponentInfo:
        """The component ``name`` of ``kind``; raises with close matches when unknown."""
        kind = normalize_kind(kind)
        found = self._components_of(kind)
        if name not in found:
            troubled = sorted({problem.plugin for problem in self.broken()})
            disabled = [plugin.name for plugin in self._disabled]
            raise UnknownComponentError(kind, name, list(found), troubled, disabled)
        return found[name]

    def create(self, kind: str, name: str, /, **config: Any) -> Component:
        """A validated instance of component ``name``; a bad value raises ``ConfigError``."""
        return self.get(kind, name).component(**config)


def _broken(info: PluginInfo, error: str, exc: BaseException | None = None) -> BrokenPlugin:
    trace = "".join(traceback.format_exception(exc)) if exc is not None else ""
    return BrokenPlugin(info.name, info.package, info.version, error, trace)


def _check(
    spec: KindSpec, contract: type[Component], component: Any, plugin: PluginInfo
) -> ComponentInfo:
    """The record of a component class, or :class:`InvalidComponentError` saying what is wrong."""
    what = f"{spec.kind} {getattr(component, '__name__', component)!r}"
    if not (isinstance(component, type) and issubclass(component, contract)):
        raise InvalidComponentError(
            f"{what} is not a subclass of {contract.__module__}.{contract.__name__}"
        )
    name = getattr(component, "name", None)
    if not (isinstance(name, str) and _NAME.match(name)):
        raise InvalidComponentError(
            f"{what} needs a class attribute `name` of lowercase letters, digits, '_' or '-' "
            f"(got {name!r})"
        )
    if inspect.isabstract(component):
        missing = ", ".join(sorted(component.__abstractmethods__))
        raise InvalidComponentError(f"{what} does not implement {missing}")
    config = getattr(component, "config_class", None)
    if not (isinstance(config, type) and issubclass(config, ComponentConfig)):
        raise InvalidComponentError(
            f"{what} needs `config_class`, a subclass of amalg.core.config.ComponentConfig"
        )
    summary = summary_of(component)
    if not summary:
        raise InvalidComponentError(
            f"{what} needs a docstring; its first line is the summary `amalg list` shows"
        )
    try:  # built now, so a config that cannot be described breaks its plugin, not `amalg list`
        schema = config.model_json_schema()
        fields = describe_fields(config)
    except Exception as exc:
        raise InvalidComponentError(f"{what} has a config amalg cannot describe: {exc}") from exc
    return ComponentInfo(
        spec.kind,
        name,
        summary,
        plugin.name,
        plugin.package,
        plugin.version,
        schema,
        fields,
        component,
    )


_default: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, created (not yet loaded) on first call."""
    global _default
    if _default is None:
        _default = Registry()
    return _default


def set_registry(registry: Registry | None) -> Registry | None:
    """Replace the process-wide registry (None: a fresh one next time); returns the old one."""
    global _default
    previous, _default = _default, registry
    return previous
