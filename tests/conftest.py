"""Shared test set-up."""
import signal

import pytest


@pytest.fixture
def ctrl_c_as_in_a_terminal():
    """SIGINT as a terminal's foreground process has it: a shell that starts pytest in the background
    (`cmd &`) sets it to ignored, and the processes a test starts inherit that, so Ctrl-C tests would
    test nothing there. Put back after the test."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)
