"""The importer's proof and its report (archspec/tools/importer/roundtrip.py, report.py) on small
models: each stage a round trip can stop at, how outputs are compared, and the report's grouping
of reasons. The timm sweep itself is `make import-report`."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from archspec.tools.importer.report import _record, read_names, reason_kind  # noqa: E402
from archspec.tools.importer.roundtrip import (  # noqa: E402
    RoundTrip,
    _difference,
    _first_line,
    round_trip,
)

pytestmark = pytest.mark.torch


class _Gate(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it, so it becomes an extern."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(channels, 1, 1))

    def forward(self, x):
        if x.mean() > 0:
            return x * self.scale
        return x


class _Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.gate = _Gate(4)

    def forward(self, x):
        return self.gate(self.conv(x)).mean((2, 3))


class _TakesALayerClass(nn.Module):
    """Built with a class, or a function that makes its activation, as an argument."""

    def __init__(self, act: type = nn.ReLU):
        super().__init__()
        self.act = act()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        if x.sum() > 0:  # untraceable: the module becomes an extern
            return self.act(self.conv(x))
        return x


class _Outer(nn.Module):
    """Its child is given a lambda: an argument the spec cannot write."""

    def __init__(self):
        super().__init__()
        self.inner = _TakesALayerClass(lambda: nn.GELU(approximate="tanh"))

    def forward(self, x):
        return self.inner(x)


class _OuterWithClass(nn.Module):
    """Its child is given a class: written as an extern value, `extern "torch.nn:GELU"`."""

    def __init__(self):
        super().__init__()
        self.inner = _TakesALayerClass(nn.GELU)

    def forward(self, x):
        return self.inner(x)


def test_a_plain_model_round_trips_exactly():
    class Small(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU())

        def forward(self, x):
            return self.features(x).flatten(1)

    trip = round_trip("small", Small, {"x": ("N", 3, 8, 8)})
    assert trip.exact, trip
    assert trip.difference is not None and trip.difference <= 1e-5
    assert trip.externs == [] and trip.lines > 3
    assert "Conv2d(3, 8, 3)" in trip.text


def test_an_untraceable_child_is_an_extern_and_still_exact():
    trip = round_trip("gated", _Gated, {"x": ("N", 3, 8, 8)})
    assert trip.exact, trip
    assert trip.externs == ["gate"]
    assert "control flow" in trip.extern_reasons[0]
    assert reason_kind(trip.extern_reasons[0]).startswith("torch.fx cannot trace it")


def test_an_extern_built_with_an_unwritable_argument_differs():
    trip = round_trip("outer", _Outer, {"x": ("N", 3, 4, 4)})
    assert trip.result == "differs", trip  # built with ReLU, its default, not tanh-GELU
    assert trip.reason.startswith("outputs differ by")


def test_an_extern_built_with_a_class_argument_is_exact():
    trip = round_trip("outer", _OuterWithClass, {"x": ("N", 3, 4, 4)})
    assert trip.exact, trip
    assert 'act=extern "torch.nn:GELU"' in trip.text


def test_a_model_that_does_not_run_on_the_inputs_is_a_row_not_a_crash():
    def build():
        return nn.Sequential(nn.Linear(5, 2))

    trip = round_trip("wrong input", build, {"x": ("N", 3)})
    assert trip.result == "import fails"
    assert trip.reason


def test_outputs_are_compared_through_their_structure():
    a = torch.zeros(2, 3)
    assert _difference(a, a + 0.5) == pytest.approx(0.5)
    assert _difference(a, torch.zeros(3, 2)) is None  # another shape
    assert _difference(torch.zeros(0), torch.zeros(0)) == 0.0
    assert _difference({"out": a}, {"out": a + 1}) == pytest.approx(1.0)
    assert _difference((a, [a]), (a, [a - 2])) == pytest.approx(2.0)
    assert _difference((a,), (a, a)) is None  # another count
    assert _difference((a, 1), (a, 1)) is None  # a value that is no tensor
    assert _difference(a, "a") is None


def test_a_failure_is_named_in_one_line():
    error = RuntimeError("first line\n  second line\nthird")
    assert _first_line(error) == "RuntimeError: first line second line"
    assert _first_line(KeyError()) == "KeyError"


def test_reasons_are_grouped_by_what_does_not_vary():
    assert reason_kind("") == "(none)"
    assert reason_kind("outputs differ by 0.0134") == "outputs differ by N"
    assert (
        reason_kind("a/timm/x.py:191: operator ** on tensors (in stages.0.blocks.0.act)")
        == "operator ** on tensors"
    )
    assert (
        reason_kind("RuntimeError: Error(s) in loading state_dict for CoaT_2: Missing key(s)")
        == "RuntimeError: Error(s) in loading state_dict: Missing key(s)"
    )
    assert reason_kind("TypeError: f() missing 1 required positional argument: 'cfg'") == (
        "TypeError: f() missing N required positional argument: …"
    )


def test_the_model_list_has_families(tmp_path):
    listing = tmp_path / "models.txt"
    listing.write_text(
        "# a comment, not a family\n# resnet\nresnet18\n\nresnet50\n# vit\nvit_tiny\n",
        encoding="utf-8",
    )
    assert read_names(str(listing)) == [
        ("resnet", "resnet18"),
        ("resnet", "resnet50"),
        ("vit", "vit_tiny"),
    ]


def test_a_recorded_row_keeps_its_spec_only_where_it_checks(tmp_path):
    rows: list = []
    good = RoundTrip("good", "exact", text="model Good {}\n")
    bad = RoundTrip("bad", "check errors", "E201: ...", text="model Bad {}\n")
    (tmp_path / "bad.arch").write_text("model Bad {}\n", encoding="utf-8")  # an earlier run's
    _record(rows, "family", good, str(tmp_path))
    _record(rows, "family", bad, str(tmp_path))
    assert (tmp_path / "good.arch").read_text(encoding="utf-8") == "model Good {}\n"
    assert not (tmp_path / "bad.arch").exists()
    assert good.text == "" and bad.text == ""  # the report keeps no spec texts in memory
    assert [trip.name for _, trip in rows] == ["good", "bad"]


def test_the_cli_warns_of_an_extern_it_cannot_rebuild(tmp_path, capsys):
    from archspec.cli import main

    target = tmp_path / "outer.arch"
    argv = ["import", "test_import_report:_Outer", "--input", "x=[N,3,4,4]", "-o", str(target)]
    assert main([*argv, "--extern-unsupported"]) == 0
    err = capsys.readouterr().err
    assert "extern: inner: " in err
    assert "warning: extern inner: its constructor takes arguments the spec cannot write" in err
    assert target.exists()


def test_a_model_whose_own_forward_is_untraceable_is_named_so():
    """The whole model as one extern checks, but its spec holds none of its layers: the row
    says so, with why, instead of a load failure over `net.` keys."""
    trip = round_trip("gate", lambda: _Gate(3), {"x": ("N", 3, 4, 4)})
    assert trip.result == "model is an extern"
    assert "control flow" in trip.reason
