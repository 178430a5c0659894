"""A paho-mqtt client receiving COUNT QoS 0 messages from a broker; prints the CPU seconds it spent.

``python benchmarks/paho_receive.py PORT COUNT [--patched]``: connects to
127.0.0.1:PORT, subscribes to ``bench/#``, prints ``ready``, then runs
``loop_forever`` until COUNT messages arrived (or 10 s of silence) and prints
``<received> <cpu seconds>``. Run by bench_compat.py; usable alone against any broker.
"""

import sys
import threading
import time


def main() -> None:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    if "--patched" in sys.argv:
        from mqttfast.compat import paho

        assert paho.install()
    import paho.mqtt.client as mqtt

    received = 0
    started = 0.0
    last = [time.monotonic()]

    def on_message(client, userdata, message):
        nonlocal received, started
        if received == 0:
            started = time.process_time()
        received += 1
        last[0] = time.monotonic()
        if received == count:
            client.disconnect()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-receiver")
    client.on_message = on_message
    client.on_subscribe = lambda *args: print("ready", flush=True)
    client.connect("127.0.0.1", port, keepalive=60)
    client.subscribe("bench/#", qos=0)

    def watchdog():
        while client.is_connected() or received == 0:
            if time.monotonic() - last[0] > 10:
                client.disconnect()
                return
            time.sleep(0.5)

    threading.Thread(target=watchdog, daemon=True).start()
    client.loop_forever()
    print(received, time.process_time() - started, flush=True)


if __name__ == "__main__":
    main()
