import subprocess
import sys
import types

import pytest

import hwfit


def test_all_is_sorted_and_complete():
    assert hwfit.__all__ == sorted(hwfit.__all__)
    public = {
        n
        for n, v in vars(hwfit).items()
        if not n.startswith("_") and not isinstance(v, types.ModuleType) and n != "annotations"
    }
    assert public <= set(hwfit.__all__)
    for name in hwfit.__all__:
        assert hasattr(hwfit, name)


def test_import_hwfit_imports_no_framework():
    code = (
        "import sys, hwfit, hwfit.cli.main; "
        "heavy = {'torch', 'onnxruntime', 'openvino', 'nncf', 'timm', 'onnx', 'plotly', "
        "'torchvision'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_analysis_commands_are_public():
    from hwfit.analysis import compare, frontier, gap

    assert (hwfit.frontier, hwfit.compare, hwfit.gap) == (frontier, compare, gap)


def _packages():
    import pathlib

    root = pathlib.Path(hwfit.__file__).parent
    return sorted(
        "hwfit." + ".".join(p.parent.relative_to(root).parts)
        for p in root.rglob("__init__.py")
        if p.parent != root and "demo" not in p.parent.relative_to(root).parts
    )


def _isort_key(name):
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions and the rest.
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, name


@pytest.mark.parametrize("name", _packages())
def test_every_subpackage_all_is_sorted_public_and_complete(name):
    import importlib
    import inspect

    package = importlib.import_module(name)
    exported = package.__all__
    assert exported == sorted(exported, key=_isort_key), name
    assert len(set(exported)) == len(exported)
    for member in exported:
        assert not member.startswith("_"), member
        assert hasattr(package, member), member
    defined_here = {
        n
        for n, v in vars(package).items()
        if not n.startswith("_")
        and (inspect.isclass(v) or inspect.isfunction(v))
        and getattr(v, "__module__", None) == name
    }
    assert defined_here <= set(exported), defined_here - set(exported)
