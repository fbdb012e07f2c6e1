"""The public API as a newcomer's program calls it wrongly: every mistake in the args is
reported in one pass (ConfigError: `args.<key>`, the bad value, what is allowed) before
anything exists, never as a traceback from inside the components; and what the args take
(image build arguments) reaches the resources."""

from __future__ import annotations

from typing import Any

import pytest

from components.args import JobPlatformArgs
from components.platform import JobPlatform
from tools.offline import RecordingMocks, run_program

STACK = "dev"


def test_image_build_passes_its_build_args_to_docker() -> None:
    """The own-job image template (examples/own-job-image) needs RUNTIME_IMAGE."""
    build_args = {"RUNTIME_IMAGE": "registry.example/scheduled-etl-runtime:v0.2.0"}

    def consumer() -> None:
        JobPlatform("mine", JobPlatformArgs(
            name_prefix="mine",
            image_build={"context": "examples/own-job-image", "args": build_args},
        ))  # fmt: skip

    program = run_program(STACK, {}, main=consumer)
    [image] = program.of_type("awsx:ecr:Image")
    assert image.inputs["args"] == build_args
    assert image.inputs["context"] == "examples/own-job-image"


def test_image_build_args_must_be_plain_strings() -> None:
    def consumer() -> None:
        build: Any = {"args": {"RUNTIME_IMAGE": 2}}
        JobPlatform("mine", JobPlatformArgs(name_prefix="mine", image_build=build))

    mocks = RecordingMocks()
    with pytest.raises(Exception, match=r"args\.image_?[bB]uild\.args") as raised:
        run_program(STACK, {}, mocks, main=consumer)
    assert "plain strings" in str(raised.value)
    assert mocks.resources == []
