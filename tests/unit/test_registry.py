import pytest

from hwfit.errors import InternalError, PluginUnavailableError, UnknownNameError
from hwfit.registry import Registry
from hwfit.runtimes import RUNTIMES


def test_unknown_name_suggests_closest():
    with pytest.raises(UnknownNameError, match=r"Did you mean 'onnxruntime'"):
        RUNTIMES.load("onnxrt")


def test_duplicate_registration_raises():
    reg: Registry[object] = Registry("thing", {"a": "builtins:dict"})
    with pytest.raises(InternalError, match="already registered"):
        reg.register("a", dict)


def test_registered_class_and_path():
    reg: Registry[object] = Registry("thing")
    reg.register("od", "collections:OrderedDict")
    import collections

    assert reg.load("od") is collections.OrderedDict
    assert reg.path("od") == "collections:OrderedDict"


def test_missing_package_is_plugin_unavailable_with_install_hint():
    reg: Registry[object] = Registry("thing", {"x": "no_such_package_hwfit.mod:X"})
    with pytest.raises(PluginUnavailableError) as info:
        reg.load("x")
    assert info.value.hint == "Install it: pip install no_such_package_hwfit"


def test_builtin_runtimes_are_registered():
    assert {"torch", "torch-compile", "onnxruntime", "openvino"} <= set(RUNTIMES.names())


def test_override_replaces_a_plugin_and_restores_it_on_exit():
    reg: Registry[object] = Registry("thing", {"a": "builtins:dict"})
    assert reg.load("a") is dict
    with reg.override("a", "builtins:list"):
        assert reg.load("a") is list
        assert reg.path("a") == "builtins:list"
    assert reg.load("a") is dict
    assert reg.path("a") == "builtins:dict"


def test_override_of_a_new_name_removes_it_on_exit_even_after_an_error():
    reg: Registry[object] = Registry("thing")

    def fail_inside():
        with reg.override("b", set):
            assert reg.load("b") is set
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_inside()
    assert reg.names() == []
    with pytest.raises(UnknownNameError):
        reg.load("b")
