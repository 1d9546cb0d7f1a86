import json

import pytest

from hwfit.cli.main import run


def test_search_space_prints_dimensions_and_size(capsys):
    assert (
        run(["search", "space", "--baseline", "timm:mobilenetv2_100", "--resolution", "64"]) == 0
    )
    out = capsys.readouterr().out
    assert "s3_kernel" in out
    assert "resolution" in out
    assert "Size: 82170781731127296000000 architectures" in out


def test_search_space_json(capsys):
    assert run(["search", "space", "--baseline", "nb201", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["size"] == 15625
    assert len(data["dimensions"]) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search"], "needs --baseline"),
        (["search", "--baseline", "resnet18"], "--data is required"),
        (["search", "space", "--baseline", "vit_tiny_patch16_224"], "vit_tiny_patch16_224"),
        (["search", "--baseline", "resnet18", "--data", "/no/such/dir"], "/no/such/dir"),
        (
            ["search", "--demo", "--target", "tensorflow:int8:bs1:cpu", "--out", "{tmp}"],
            "tensorflow",
        ),
        (["search", "--demo", "--latency-budget", "-1", "--out", "{tmp}"], "latency-budget"),
    ],
)
def test_search_bad_input_is_one_line_exit_2(tmp_path, capsys, args, message):
    args = [a.replace("{tmp}", str(tmp_path / "o")) for a in args]
    assert run(args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2
