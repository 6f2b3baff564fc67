"""``amalg data``: which datasets are prepared where, and preparing them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from amalg.cli.errors import reports_errors
from amalg.cli.output import echo_json

app = typer.Typer(help="Datasets: list them, prepare them.", no_args_is_help=True)

_DATA_DIR = typer.Option(
    "--data-dir", help="Dataset folder (default: $AMALG_DATA_DIR, else ~/tensorflow_datasets)."
)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="data")


@app.command("list")
@reports_errors
def list_datasets(
    data_dir: Annotated[str | None, _DATA_DIR] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for programs.")] = False,
) -> None:
    """List the datasets amalg reads and whether each is prepared."""
    from amalg.plugins.tasks import data

    where = data.data_dir(data_dir)
    rows = [
        {
            "dataset": spec.name,
            "tfds_name": spec.tfds_name,
            "shape": list(spec.shape),
            "classes": spec.classes,
            "prepared": data.is_prepared(spec.name, where),
            "available": data.is_available(spec.name, where),
            "offline": spec.offline_builder is not None,
        }
        for spec in data.DATASETS.values()
    ]
    spec_shapes = {spec.name: spec.shape for spec in data.DATASETS.values()}
    if as_json:
        echo_json({"data_dir": str(where), "datasets": rows})
        return
    table = Table(title=f"datasets in {where}", title_justify="left")
    for column in ("dataset", "tfds name", "shape", "classes", "status"):
        table.add_column(column)
    for row in rows:
        status = (
            "prepared offline on first use"
            if row["offline"]
            else ("prepared" if row["prepared"] else "not prepared")
        )
        shape = "x".join(str(size) for size in spec_shapes[str(row["dataset"])])
        cells = (str(row["dataset"]), str(row["tfds_name"]), shape, str(row["classes"]), status)
        table.add_row(*(Text(cell) for cell in cells))
    Console().print(table)


@app.command("prepare")
@reports_errors
def prepare_dataset(
    name: Annotated[str, typer.Argument(help="The dataset (see `amalg data list`).")],
    data_dir: Annotated[str | None, _DATA_DIR] = None,
) -> None:
    """Download and prepare a dataset as array_record files (needs TensorFlow and internet,
    except for digits)."""
    from amalg.plugins.tasks import data

    folder = data.prepare(name, data_dir)
    typer.echo(f"{name} is prepared in {folder}")
