import subprocess
import sys
import types

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
