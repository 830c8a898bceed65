"""``larseg validate-physics``: the simulator against its references, as plots and a table."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console


@app.command("validate-physics", help=(
    "Check the simulator's physics against its references and write OUTPUT/physics.md with "
    "plots: range vs energy (NIST PSTAR / PDG), Bragg peak, Highland scattering, shower profile, "
    "photon conversion, Michel spectrum, cosmic multiplicity, the papers' pixel occupancies, label "
    "consistency. Exits non-zero if a check fails."))
def validate_physics(
    output: Path = typer.Option(Path("docs"), "--output", "-o", help="Directory for physics.md."),
    seed: int = typer.Option(12345, "--seed", help="Seed of every simulation in the checks."),
    quick: bool = typer.Option(False, "--quick", help="Fewer samples per check (a smoke run)."),
) -> None:
    from ..validation.report import run_all

    def show(c) -> None:
        mark = "[green]pass[/]" if c.passed else "[bold red]FAIL[/]"
        console.print(f"{mark}  {c.name}: {c.measured}  (reference {c.reference})")

    output.mkdir(parents=True, exist_ok=True)
    checks = run_all(output, seed=seed, quick=quick, on_check=show)
    console.print(f"wrote {output / 'physics.md'}")
    failed = [c for c in checks if not c.passed]
    if failed:
        console.print(f"[bold red]{len(failed)} check(s) failed[/]")
        raise typer.Exit(1)
