"""Differential fuzzing of the two twins: same bytes in, same answer out.

One input drives everything: its first byte picks the protocol version and a
chunk size, the rest is fed to ``decode()`` of both twins and, cut into
chunks, to both ``Decoder``s; every decoded packet is re-encoded by both and
must round-trip. Any difference, any exception outside ``MQTTError``, any
crash is a finding.

    python fuzz/differential.py corpus-dir -max_total_time=600   # coverage-guided (atheris)
    python fuzz/differential.py --replay corpus-dir              # replay a corpus, no atheris needed

``fuzz/seeds.py`` writes a seed corpus of valid packets of every type and version.
"""

import os
import sys

import mqttfast._compiled as compiled
import mqttfast.fallback as python

VERSIONS = (None, 3, 4, 5)


def outcome(api, data, version):
    try:
        packet, nbytes = api.decode(data, version)
    except api.MQTTError as exc:
        return ("error", type(exc).__name__, exc.reason_code, str(exc))
    level = packet.protocol_version if type(packet) is api.Connect else version
    wire = api.encode(packet, level)
    if wire != bytes(data[:nbytes]):
        # Non-minimal varints are accepted on input and written minimally: re-decoding must agree.
        again, _ = api.decode(wire, version)
        assert again == packet, (packet, again)
    return ("packet", type(packet).__name__, nbytes, repr(packet), wire)


def stream(api, data, version, chunk):
    decoder = api.Decoder(version)
    packets = []
    try:
        for start in range(0, len(data), chunk):
            packets += decoder.feed(data[start : start + chunk])
    except api.MQTTError as exc:
        return [repr(p) for p in packets + exc.packets], type(exc).__name__, exc.reason_code
    return [repr(p) for p in packets], None, decoder.pending


def check(data: bytes) -> None:
    if not data:
        return
    version = VERSIONS[data[0] & 3]
    chunk = 1 + (data[0] >> 2)
    body = data[1:]
    first = outcome(compiled, body, version)
    second = outcome(python, body, version)
    assert first == second, (body.hex(" "), version, first, second)
    assert stream(compiled, body, version, chunk) == stream(python, body, version, chunk), (body.hex(" "), version)


def replay(directory):
    count = 0
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name), "rb") as file:
            check(file.read())
        count += 1
    return count


def main(argv):
    if len(argv) > 1 and argv[1] == "--replay":
        total = sum(replay(directory) for directory in argv[2:])
        print(f"replayed {total} inputs on both twins: no difference")
        return 0
    import atheris

    atheris.instrument_all()
    atheris.Setup(argv, check)
    atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
