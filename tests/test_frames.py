"""Frame lists and chunks (landscape.frames): the syntax farms write, its errors, and
chunks that cover exactly the frames."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from landscape.frames import (MAX_FRAMES, Chunk, FrameError, chunks, flatten, format_frames,
                              parse)


@pytest.mark.parametrize("spec, frames", [
    ("1001-1004", [1001, 1002, 1003, 1004]),
    ("1-10x2", [1, 3, 5, 7, 9]),
    ("1,5,9", [1, 5, 9]),
    ("1-3,7,10-20x5", [1, 2, 3, 7, 10, 15, 20]),
    (" 7 ", [7]),
    ("0", [0]),
    ("5-5", [5]),
])
def test_parse(spec, frames):
    assert parse(spec) == frames


@pytest.mark.parametrize("spec, words", [
    ("1100-1001", "backwards"),
    ("abc", "bad frames 'abc'"),
    ("", "no frames"),
    ("   ", "no frames"),
    ("1,,2", "bad frames ''"),
    ("1-10x0", "step of 0"),
    ("-5", "bad frames"),
    ("1.5", "bad frames"),
    ("1-2000000", "too many frames"),
    ("1-3,2", "given twice"),
    ("1-9999999999", "frames go up to 99,999,999"),
    ("1-1000000000", "frames go up to 99,999,999"),
    ("100000000", "frames go up to 99,999,999"),
    ("5x2", "bad frames"),
])
def test_bad_frames_are_one_line_errors(spec, words):
    with pytest.raises(FrameError) as e:
        parse(spec)
    assert words in e.value.message
    assert "\n" not in e.value.message


def test_a_chunk_of_zero_is_an_error():
    with pytest.raises(FrameError, match="at least 1"):
        chunks([1, 2], 0)


def test_chunks_never_span_a_gap_or_a_step_change():
    got = chunks(parse("1001-1008"), 3)
    assert got == [Chunk(1001, 1003), Chunk(1004, 1006), Chunk(1007, 1008)]
    assert [c.name for c in chunks(parse("1-3,10-20x5"), 10)] == ["1-3", "10-20x5"]
    assert chunks([1, 2, 3, 7], 10) == [Chunk(1, 3), Chunk(7, 7)]
    assert chunks([1, 3, 4], 5) == [Chunk(1, 3, 2), Chunk(4, 4)]


def test_the_cap_counts_frames_not_numbers():
    assert len(parse(f"1-{MAX_FRAMES * 10}x10")) == MAX_FRAMES
    with pytest.raises(FrameError):
        parse(f"0-{MAX_FRAMES}")


frame_lists = st.lists(st.integers(0, 5000), unique=True, max_size=60)


@settings(max_examples=300, deadline=None)
@given(frame_lists)
def test_parse_of_format_round_trips(frames):
    if not frames:
        assert format_frames(frames) == ""
        return
    assert parse(format_frames(frames)) == frames


@settings(max_examples=300, deadline=None)
@given(frame_lists, st.integers(1, 12))
def test_chunks_cover_exactly_the_frames_in_order(frames, size):
    got = chunks(frames, size)
    assert flatten(got) == frames
    for c in got:
        assert 1 <= len(c.frames) <= size
        assert c.frames == list(range(c.start, c.end + 1, c.step))
        assert parse(c.name) == c.frames  # the name is the chunk, in the same syntax
    plain = chunks(frames, size, stepped=False)
    assert flatten(plain) == frames
    assert all(c.step == 1 and len(c.frames) <= size for c in plain)
