"""axe-core run by the browser driver over parts of a page: the serious and critical violations."""

from pathlib import Path

# Installed by `make test` from the npm registry (Makefile: axe).
AXE = Path(__file__).resolve().parents[2] / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


def serious_violations(page, *selectors: str) -> list[str]:
    """Violations in the elements `selectors` pick (the whole page without any)."""
    assert AXE.exists(), f"axe-core is missing at {AXE}: `make test` installs it (npm install axe-core@4)"
    # Evaluated by the driver: a <script> of it would be refused by our Content-Security-Policy.
    page.evaluate(AXE.read_text())
    context = {"include": [[s] for s in selectors]} if selectors else "document"
    result = page.evaluate(
        "([context]) => axe.run(context === 'document' ? document : context, {resultTypes: ['violations']})",
        [context],
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:5]]}"
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]
