"""Runtimes that crash, hang or raise: the subject under test is bench's isolation, not them."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import ClassVar

from hwfit.records import Availability
from hwfit.runtimes.ort_runtime import OrtRuntime


class CrashingRuntime(OrtRuntime):
    name: ClassVar[str] = "test-crash"

    @classmethod
    def probe(cls):
        return Availability(name=cls.name, ok=True, version="0")

    def compile(self, model, config):
        os.kill(os.getpid(), signal.SIGSEGV)  # what a native crash inside a runtime looks like


class HangingRuntime(CrashingRuntime):
    name: ClassVar[str] = "test-hang"

    def compile(self, model, config):
        time.sleep(3600)


class RaisingRuntime(CrashingRuntime):
    name: ClassVar[str] = "test-raise"

    def compile(self, model, config):
        raise RuntimeError("kaboom in the runtime")


class EchoingRuntime(CrashingRuntime):
    """Fails its row with what its worker sees: a variable, threads, folder, parent."""

    name: ClassVar[str] = "test-echo"

    def compile(self, model, config):
        import torch

        echo = os.environ.get("HWFIT_TEST_ECHO")
        threads = torch.get_num_threads()
        method = multiprocessing.get_start_method()
        raise RuntimeError(
            f"echo={echo} threads={threads} cwd={Path.cwd()} ppid={os.getppid()} "
            f"start-method={method} "
        )


class CrashingOnInferRuntime(CrashingRuntime):
    """Compiles like ONNX Runtime, then crashes natively on every inference."""

    name: ClassVar[str] = "test-crash-infer"

    def compile(self, model, config):
        compiled = OrtRuntime.compile(self, model, config)

        def crash(x):
            os.kill(os.getpid(), signal.SIGSEGV)

        compiled.infer = crash
        compiled.infer_outputs = crash
        return compiled
