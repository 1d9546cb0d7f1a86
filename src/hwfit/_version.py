"""The hwfit version, single-sourced for packaging and result records."""

__version__ = "0.1.0"


def tool_versions(extra: tuple[str, ...] = ()) -> dict[str, str]:
    """Versions of hwfit and the installed frameworks, for reports and manifests.

    Args:
        extra: More distribution names to include when installed.

    Returns:
        Distribution name to version, hwfit first; absent packages are left out.
    """
    from importlib.metadata import PackageNotFoundError, version

    out = {"hwfit": __version__}
    for name in ("torch", "timm", "onnx", "onnxruntime", "openvino", "nncf", *extra):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out
