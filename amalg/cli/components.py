"""``amalg list`` and ``amalg show``: what is installed and how each component is configured."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from amalg.cli.errors import reports_errors
from amalg.cli.output import echo_json
from amalg.core.registry import KINDS, ComponentInfo, get_registry, normalize_kind

_KINDS_HELP = ", ".join(KINDS)


def register(app: typer.Typer) -> None:
    app.command("list")(list_components)
    app.command("show")(show_component)


@reports_errors
def list_components(
    kind: Annotated[
        str | None,
        typer.Argument(
            help=f"Only this kind ({_KINDS_HELP}; singular or plural), or `pretrained`: the "
            "trained optimizers shipped with amalg."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """List installed components and the plugins that provide them."""
    if kind == "pretrained":
        _list_pretrained(as_json)
        return
    registry = get_registry()
    kind = None if kind is None else normalize_kind(kind)
    components = registry.components(kind)
    broken = registry.broken()
    disabled = registry.disabled()
    unknown = registry.unknown_disabled()
    # Details (a task's size and data, say) cost an instance each: only for one kind.
    details = {info.name: info.details() for info in components} if kind else {}
    if as_json:
        echo_json(
            {
                "components": [
                    {**info.to_dict(), **({"details": details[info.name]} if kind else {})}
                    for info in components
                ],
                "broken_plugins": [plugin.to_dict() for plugin in broken],
                "disabled_plugins": [
                    {"plugin": plugin.name, "package": plugin.package, "version": plugin.version}
                    for plugin in disabled
                ],
                "unknown_disabled": unknown,
            }
        )
        return

    console = Console()
    title = f"amalg {KINDS[kind].plural}" if kind else "amalg components"
    table = Table(title=title, title_justify="left")
    if kind is None:  # one kind: the title says it
        table.add_column("kind", style="cyan", no_wrap=True)
    table.add_column("name", style="bold", no_wrap=True)
    columns = list(dict.fromkeys(key for facts in details.values() for key in facts))
    # Facts are short and must stay readable; the summary wraps into what is left.
    for column in columns:
        table.add_column(_HEADERS.get(column, column.replace("_", " ")), no_wrap=True)
    table.add_column("summary", ratio=1, min_width=20)
    # With facts the table is wide: the source moves to `amalg show` and --json.
    if not columns:
        table.add_column("source", style="dim")
    for info in components:
        facts = details.get(info.name, {})
        cells = [info.kind] if kind is None else []
        cells += [info.name, *(_cell(facts.get(column)) for column in columns), info.summary]
        if not columns:
            cells.append(_source(info))
        table.add_row(*(Text(cell) for cell in cells))
    if components:
        console.print(table)
    else:
        console.print(Text(f"No {KINDS[kind].plural if kind else 'components'} are installed."))

    if broken:
        problems = Table(title="broken plugins", title_justify="left", title_style="bold red")
        problems.add_column("plugin", style="bold", no_wrap=True)
        problems.add_column("package", style="dim")
        problems.add_column("error")
        for plugin in broken:
            package = " ".join(part for part in (plugin.package, plugin.version) if part)
            problems.add_row(Text(plugin.plugin), Text(package), Text(plugin.error))
        console.print(problems)
    if disabled:
        names = ", ".join(plugin.name for plugin in disabled)
        console.print(Text(f"Disabled by AMALG_DISABLE_PLUGINS: {names}", style="dim"))
    if unknown:
        names = ", ".join(unknown)
        console.print(Text(f"AMALG_DISABLE_PLUGINS names no installed plugin: {names}"))


def _list_pretrained(as_json: bool) -> None:
    from amalg.optim import pretrained

    cards = pretrained()
    if as_json:
        echo_json(
            {"pretrained": [{**card.model_dump(mode="json"), "name": name}
                            for name, card in cards.items()]}
        )  # fmt: skip
        return
    console = Console()
    if not cards:
        console.print(Text("No pretrained optimizers are installed."))
        return
    table = Table(title="amalg pretrained optimizers", title_justify="left")
    for column in ("name", "student", "trained on", "teachers", "scheme", "estimator"):
        table.add_column(column, style="bold" if column == "name" else None, no_wrap=True)
    table.add_column("summary", ratio=1, min_width=20)
    for name, card in cards.items():
        training = card.training
        teachers = (
            ", ".join(
                f"{t.label or t.name}" + (f" (lr {t.lr:g})" if t.lr is not None else "")
                for t in training.teachers
            )
            if training
            else ""
        )
        cells = (
            name,
            card.student,
            f"{training.task}, seed {training.seed}" if training else "",
            teachers or "none",
            training.scheme if training else "",
            training.estimator if training else "",
            card.description,
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


_HEADERS = {"table_1_parameters": "table 1", "batch_size": "batch", "parameters": "params"}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _source(info: ComponentInfo) -> str:
    package = " ".join(part for part in (info.package, info.version) if part)
    return f"{info.plugin} ({package})" if package else info.plugin


@reports_errors
def show_component(
    kind: Annotated[str, typer.Argument(help=f"The component kind ({_KINDS_HELP}).")],
    name: Annotated[str, typer.Argument(help="The component name (see `amalg list`).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """Show one component: its documentation and config fields (type, default, bounds)."""
    info = get_registry().get(kind, name)
    fields = info.fields
    if as_json:
        echo_json(
            {
                **info.to_dict(),
                "description": info.description,
                "fields": [field.to_dict() for field in fields],
            }
        )
        return

    console = Console()
    console.print(Text.assemble((f"{info.kind} {info.name}", "bold"), f" — {info.summary}"))
    body = info.description.partition("\n")[2].strip()
    if body:
        # Docstrings are laid out by hand (formulas in columns): print them as they are.
        console.print(Text(body), soft_wrap=True)
    console.print(Text(f"from {_source(info)}", style="dim"))
    if not fields:
        console.print(Text("No config fields."))
        return
    table = Table(title="config", title_justify="left")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("type", style="cyan")
    table.add_column("default")
    table.add_column("bounds")
    table.add_column("description")
    for field in fields:
        default = "(required)" if field.required else json.dumps(field.default, default=str)
        cells = (field.name, field.type, default, field.bounds, field.description)
        # Text(): rich would read "[str]" in "list[str]" as markup and drop it.
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
