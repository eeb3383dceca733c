"""Checks the browser tests share: axe-core's serious and critical violations, and requests to other hosts."""

from pathlib import Path

# Installed by `make test` from the npm registry (Makefile: axe).
AXE = Path(__file__).resolve().parents[1] / ".venv" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = ("serious", "critical")


def serious_violations(page, *selectors: str) -> list[str]:
    """Violations in the elements `selectors` pick (the whole page without any)."""
    assert AXE.exists(), f"axe-core is missing at {AXE}: `make test` installs it (Makefile: axe)"
    # Evaluated by the driver, not added as a <script>: add_script_tag inlines the file, which our
    # Content-Security-Policy rightly blocks, while the driver's own evaluation is not a page script.
    page.evaluate(AXE.read_text())
    context = {"include": [[s] for s in selectors]} if selectors else "document"
    result = page.evaluate(
        "([context]) => axe.run(context === 'document' ? document : context, {resultTypes: ['violations']})",
        [context],
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(str(n['target']) for n in v['nodes'][:5])}"
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


def watch_hosts(page, origin: str) -> list[str]:
    """The requests the page makes to any host but ours, as they happen."""
    elsewhere: list[str] = []

    def note(request):
        url = request.url
        if not url.startswith(("data:", "blob:", "about:", origin + "/")) and url != origin:
            elsewhere.append(url)

    page.on("request", note)
    return elsewhere
