"""Physics validation of the simulator: plots and a table comparing it with its references.

``larseg validate-physics`` runs every check (:func:`larseg.validation.report.run_all`) and
writes ``docs/physics.md`` with its figures. Each check simulates with the real generators,
transport and readout and compares with a reference (NIST/PDG tables, the Highland formula, PDG
shower formulas, the Michel spectrum, the papers' pixel counts).
"""
