"""Print the structure figures issue 13 set targets for, for the tree it runs in.

Modules over 500 lines under src/hwfit, functions over 80 lines (all, and in nas/ and tune/),
function signatures that mention ``Any``, lines with ``dict[str, Any]``, and imports of hwfit
modules made inside functions (invisible to a reader of the module's head).

Usage: python scripts/structure_counts.py [ROOT]   (default: src/hwfit)
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "src/hwfit")
    big_modules, big_functions, in_function = [], [], []
    any_signatures = dict_any = 0
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        lines = source.count("\n")
        if lines > 500:
            big_modules.append((lines, str(path)))
        dict_any += sum("dict[str, Any]" in line for line in source.splitlines())
        for node in ast.walk(ast.parse(source)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > 80:
                big_functions.append((length, f"{path}:{node.name}"))
            signature = ast.get_source_segment(source, node.args) or ""
            if node.returns is not None:
                signature += " " + (ast.get_source_segment(source, node.returns) or "")
            any_signatures += bool(re.search(r"\bAny\b", signature))
            for inner in ast.walk(node):
                names = (
                    [inner.module or ""]
                    if isinstance(inner, ast.ImportFrom)
                    else [a.name for a in inner.names]
                    if isinstance(inner, ast.Import)
                    else []
                )
                hwfit = [n for n in names if n.startswith("hwfit")]
                in_function += [f"{path}:{inner.lineno} {n}" for n in hwfit]
    in_nas_tune = [f for f in big_functions if re.search(r"/(nas|tune)/", f[1])]
    print(f"modules over 500 lines: {len(big_modules)} {sorted(big_modules, reverse=True)}")
    print(f"functions over 80 lines: {len(big_functions)}; in nas/ and tune/: {len(in_nas_tune)}")
    for length, name in sorted(in_nas_tune, reverse=True):
        print(f"  {length:4d} {name}")
    print(f"signatures with Any: {any_signatures}")
    print(f"lines with dict[str, Any]: {dict_any}")
    print(f"hwfit imports inside functions: {len(set(in_function))}")


if __name__ == "__main__":
    main()
