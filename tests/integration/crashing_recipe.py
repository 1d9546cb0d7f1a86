"""A quantizer that crashes the process: the subject under test is optimize's isolation."""

from __future__ import annotations

import os
import signal

from hwfit.precisions.ort_quant import OrtStaticInt8Recipe


class CrashingInt8Recipe(OrtStaticInt8Recipe):
    def prepare(self, model, spec, out_dir, data):
        os.kill(os.getpid(), signal.SIGSEGV)  # what a native crash inside a quantizer looks like
