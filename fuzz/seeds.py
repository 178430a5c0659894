"""Write the seed corpus: valid packets of every type and version, as ``fuzz/differential.py`` reads them.

    python fuzz/seeds.py fuzz/corpus
"""

import os
import sys

from mqttfast import fallback as api


def seeds():
    will = api.Will(topic="w/t", payload=b"bye", qos=1, retain=True)
    for version in (3, 4, 5):
        v5 = version == 5
        props = {"user_properties": [("k", "v")]} if v5 else {}
        packets = [
            api.Connect(protocol_version=version, client_id="c1", keep_alive=30, username="u", password=b"p", will=will),
            api.Connack(session_present=True),
            api.Publish(topic="a/b", payload=b"payload", **props),
            api.Publish(topic="a/b", payload=b"x" * 300, qos=1, packet_id=7, retain=True, dup=True),
            api.Publish(topic="a", payload=b"", qos=2, packet_id=65535, **(
                {"topic_alias": 3, "content_type": "t", "subscription_identifiers": [1, 300], "correlation_data": b"\x00"} if v5 else {}
            )),
            api.Puback(packet_id=1, **({"reason_code": 0x10, "reason_string": "r"} if v5 else {})),
            api.Pubrec(packet_id=2),
            api.Pubrel(packet_id=3),
            api.Pubcomp(packet_id=4),
            api.Subscribe(packet_id=5, subscriptions=[api.Subscription(topic_filter="a/+", qos=1), api.Subscription(topic_filter="$share/g/#", qos=2)]),
            api.Suback(packet_id=5, reason_codes=[1, 2]),
            api.Unsubscribe(packet_id=6, topic_filters=["a/+", "#"]),
            api.Unsuback(packet_id=6, reason_codes=[0, 0x11] if v5 else []),
            api.Pingreq(),
            api.Pingresp(),
            api.Disconnect(**({"reason_code": 4, "session_expiry_interval": 9} if v5 else {})),
        ]
        if v5:
            packets.append(api.Auth(reason_code=0x18, authentication_method="SCRAM", authentication_data=b"\x01"))
            packets.append(api.Connack(reason_code=0x87, reason_string="no", maximum_qos=1, server_keep_alive=5))
        selector = {3: 1, 4: 2, 5: 3}[version]
        for index, packet in enumerate(packets):
            wire = api.encode(packet, version)
            decode_selector = 0 if type(packet) is api.Connect else selector
            # First byte: version selector in bits 0-1, chunk size - 1 in bits 2-7.
            yield f"v{version}-{index:02d}-{type(packet).__name__}", bytes([decode_selector | (index % 8) << 2]) + wire
        stream = b"".join(api.encode(packet, version) for packet in packets if type(packet) is not api.Connect)
        yield f"v{version}-stream", bytes([selector | 3 << 2]) + stream


def main(directory):
    os.makedirs(directory, exist_ok=True)
    count = 0
    for name, data in seeds():
        with open(os.path.join(directory, name), "wb") as file:
            file.write(data)
        count += 1
    print(f"wrote {count} seeds to {directory}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "fuzz/corpus")
