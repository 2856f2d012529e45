"""Frames between the receiver and its writer: the writer takes whichever have arrived whole."""

from __future__ import annotations

import socket

import pytest

from receiver import wire


def test_frame_reader_takes_whole_frames_without_waiting():
    ours, theirs = socket.socketpair()
    with ours, theirs:
        frames = wire.FrameReader(theirs)
        assert frames.ready() is None  # nothing sent: no wait, no frame
        third = wire.encode(("land", [b"x" * 5000]))
        ours.sendall(wire.encode(("land", [1])) + wire.encode(("feed", 0, 10, 100)) + third[:7])
        assert frames.ready() == ("land", [1])
        assert frames.ready() == ("feed", 0, 10, 100)
        assert frames.ready() is None  # the third is only partly here
        ours.sendall(third[7:])
        assert frames.next() == ("land", [b"x" * 5000])
        ours.sendall(wire.encode(("oldest", 3)))
        ours.shutdown(socket.SHUT_WR)
        assert frames.ready() == ("oldest", 3)  # frames sent before the close still count
        assert frames.ready() is None
        with pytest.raises(wire.WriterGone):
            frames.next()
