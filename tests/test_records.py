"""archspec.core.records: each record behaves as the same class made by dataclasses would."""

from __future__ import annotations

import dataclasses

import pytest

from archspec.core import records


def twins(frozen: bool = False, eq: bool = True):
    """The same class twice: as a record and as a dataclass."""
    made = []
    for decorate, make_field in (
        (records.record(frozen=frozen, eq=eq), records.field),
        (dataclasses.dataclass(frozen=frozen, eq=eq), dataclasses.field),
    ):

        class Point:
            x: int
            y: int = 2
            tags: list = make_field(default_factory=list)
            note: str = make_field(default="", compare=False, repr=False)
            derived: int = make_field(init=False, repr=False, compare=False)

            def __post_init__(self):
                object.__setattr__(self, "derived", self.x * 10)

        made.append(decorate(Point))
    return made


@pytest.mark.parametrize("frozen", [False, True])
@pytest.mark.parametrize("eq", [False, True])
def test_a_record_behaves_like_its_dataclass_twin(frozen, eq):
    record_class, data_class = twins(frozen, eq)
    for cls in (record_class, data_class):
        a, b, c = cls(1), cls(1, 2, [], note="other"), cls(1, 3)
        assert (a.x, a.y, a.tags, a.note, a.derived) == (1, 2, [], "", 10)
        assert repr(a).endswith("Point(x=1, y=2, tags=[])")
        assert (a == b) is eq and (a == c) is False
        assert a.tags is not cls(5).tags  # a fresh default per instance
        assert cls.y == 2  # the default stays on the class
        if frozen:
            with pytest.raises(AttributeError):
                a.x = 5
        else:
            a.x = 5
            assert a.x == 5
    for cls in (record_class, data_class):  # hashable exactly when dataclass makes it so
        hashable = cls.__hash__ is not None
        assert hashable == (not eq or frozen), cls
    if eq and frozen:
        assert hash(record_class(1, 2, (1,))) == hash(record_class(1, 2, (1,)))


def test_replace_and_fields():
    record_class, _ = twins(frozen=True)
    changed = records.replace(record_class(1, tags=[3]), y=9)
    assert (changed.x, changed.y, changed.tags, changed.derived) == (1, 9, [3], 10)
    assert [f.name for f in records.fields(changed)] == ["x", "y", "tags", "note", "derived"]


def test_methods_the_class_writes_itself_are_kept():
    @records.record(frozen=True)
    class Size:
        value: int

        def __eq__(self, other):
            return isinstance(other, Size) and self.value % 10 == other.value % 10

        def __hash__(self):
            return self.value % 10

        def __repr__(self):
            return f"<{self.value}>"

    assert Size(3) == Size(13) and hash(Size(3)) == hash(Size(13)) and repr(Size(3)) == "<3>"


def test_a_missing_argument_is_a_type_error_as_with_dataclass():
    record_class, _ = twins()
    with pytest.raises(TypeError):
        record_class()
    with pytest.raises(TypeError):
        record_class(1, derived=3)  # not an __init__ argument


def test_a_hash_the_class_writes_itself_is_kept_with_a_generated_eq():
    @records.record(frozen=True)
    class Key:
        name: str

        def __hash__(self):
            return 7

    assert hash(Key("a")) == 7 and Key("a") == Key("a")


def test_a_factory_field_outside_init_and_comparison_with_another_class():
    @records.record
    class Bag:
        items: list = records.field(default_factory=list, init=False)

    first, second = Bag(), Bag()
    assert first.items == [] and first.items is not second.items
    assert first.__eq__(object()) is NotImplemented and first != "a bag"
