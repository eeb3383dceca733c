"""Run every benchmark script in this folder in turn; each prints its own table.

    .venv/bin/python benchmarks/run.py              # all of them (make benchmark)
    .venv/bin/python benchmarks/run.py demo_chain   # only the ones named

Exits non-zero when any script failed, after running the others.
"""

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts(names: list[str]) -> list[Path]:
    found = sorted(p for p in HERE.glob("*.py") if p.name != "run.py" and not p.name.startswith("_"))
    if not names:
        return found
    wanted = {n.removesuffix(".py") for n in names}
    unknown = wanted - {p.stem for p in found}
    if unknown:
        raise SystemExit(
            f"no benchmark named {', '.join(sorted(unknown))}; have {', '.join(p.stem for p in found)}"
        )
    return [p for p in found if p.stem in wanted]


def main() -> int:
    failed = []
    for script in scripts(sys.argv[1:]):
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, str(script)], cwd=HERE.parent)
        print(f"--- {script.stem}: exit {code} in {time.monotonic() - started:.0f} s", flush=True)
        if code:
            failed.append(script.stem)
    if failed:
        print(f"\nFailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
