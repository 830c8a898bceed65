"""``larseg validate-physics``: the simulator against its references, as plots and a table."""

from __future__ import annotations

from pathlib import Path

import typer

from .app import app, console


@app.command("validate-physics", help=(
    "Check the simulator's physics against its references and write OUTPUT/physics.md with "
    "plots: range vs energy (NIST PSTAR / PDG), Bragg peak, Highland scattering, shower profile, "
    "photon conversion, Michel spectrum, cosmic multiplicity, the papers' pixel occupancies, label "
    "consistency, and the statistics of public SBND and MicroBooNE files. Exits non-zero if a "
    "check fails, other than the known gaps the page lists with their reasons."))
def validate_physics(
    output: Path = typer.Option(Path("docs"), "--output", "-o", help="Directory for physics.md."),
    seed: int = typer.Option(12345, "--seed", help="Seed of every simulation in the checks."),
    quick: bool = typer.Option(False, "--quick", help="Fewer samples per check (a smoke run)."),
) -> None:
    from ..validation.report import KNOWN_GAPS, run_all, unexpected_failures

    def show(c) -> None:
        mark = ("[green]pass[/]" if c.passed else
                "[yellow]FAIL (known gap)[/]" if c.name in KNOWN_GAPS else "[bold red]FAIL[/]")
        console.print(f"{mark}  {c.name}: {c.measured}  (reference {c.reference})")

    output.mkdir(parents=True, exist_ok=True)
    checks = run_all(output, seed=seed, quick=quick, on_check=show)
    console.print(f"wrote {output / 'physics.md'}")
    gaps = [c for c in checks if not c.passed and c.name in KNOWN_GAPS]
    if gaps:
        console.print(f"[yellow]{len(gaps)} known gap(s), listed in {output / 'physics.md'}[/]")
    failed = unexpected_failures(checks)
    if failed:
        console.print(f"[bold red]{len(failed)} check(s) failed[/]")
        raise typer.Exit(1)
