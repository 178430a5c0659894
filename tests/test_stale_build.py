"""The suite refuses to run a compiled twin built before its sources last changed."""

import os

from .helpers.implementations import stale_compiled_sources


def make(directory, name, mtime):
    path = directory / name
    path.write_text("")
    os.utime(path, (mtime, mtime))


def test_sources_newer_than_their_build_are_stale(tmp_path):
    make(tmp_path, "_varint_c.cpython-311-x86_64-linux-gnu.so", 1000)
    make(tmp_path, "_codec_c.cpython-311-x86_64-linux-gnu.so", 2000)
    make(tmp_path, "_varint_c.pyx", 1500)
    make(tmp_path, "_codec_c.pyx", 1500)
    make(tmp_path, "_codec_c.pxd", 2500)
    assert stale_compiled_sources(tmp_path) == ["_codec_c.pxd", "_varint_c.pyx"]


def test_a_shared_source_is_stale_only_when_newer_than_every_build(tmp_path):
    # An incremental build recompiles only the modules that use a shared source.
    make(tmp_path, "_varint_c.cpython-311-x86_64-linux-gnu.so", 1000)
    make(tmp_path, "_codec_c.cpython-311-x86_64-linux-gnu.so", 2000)
    make(tmp_path, "_wire.pxd", 1500)
    assert stale_compiled_sources(tmp_path) == []
    make(tmp_path, "_wire.pxd", 2500)
    assert stale_compiled_sources(tmp_path) == ["_wire.pxd"]


def test_a_fresh_build_is_not_stale(tmp_path):
    make(tmp_path, "_varint_c.pyx", 500)
    make(tmp_path, "_varint_c.cpython-311-x86_64-linux-gnu.so", 1000)
    assert stale_compiled_sources(tmp_path) == []


def test_nothing_built_in_place_is_not_stale(tmp_path):
    make(tmp_path, "_varint_c.pyx", 500)
    make(tmp_path, "_varint_py.py", 600)
    assert stale_compiled_sources(tmp_path) == []
