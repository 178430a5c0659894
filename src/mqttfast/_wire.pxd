# The wire facts the compiled twins need as C constants, declared once here and
# cimported: protocol levels, packet types, property wire types and the property
# identifiers the codec handles by name. The values are those of ``_constants``
# (the single source of truth); tests/test_wire_constants.py proves they agree.

cdef enum:
    NO_VERSION = 0
    MQTT_3_1 = 3
    MQTT_3_1_1 = 4
    MQTT_5 = 5
    # The protocol level bit mosquitto bridges set ("try_private").
    BRIDGE_BIT = 0x80
    # The 3.1.1 CONNACK return code a 3.1.1-only server refuses a 5.0 client with.
    V3_UNACCEPTABLE_PROTOCOL_VERSION = 0x01
    MAX_VARINT = 268435455

# Packet types (_constants.PacketType); WILL is the pseudo type of Will Properties.
cdef enum:
    WILL = 0
    T_CONNECT = 1
    T_CONNACK = 2
    T_PUBLISH = 3
    T_PUBACK = 4
    T_PUBREC = 5
    T_PUBREL = 6
    T_PUBCOMP = 7
    T_SUBSCRIBE = 8
    T_SUBACK = 9
    T_UNSUBSCRIBE = 10
    T_UNSUBACK = 11
    T_PINGREQ = 12
    T_PINGRESP = 13
    T_DISCONNECT = 14
    T_AUTH = 15

# Property wire types (_constants.PropertyType).
cdef enum:
    K_BYTE = 1
    K_TWO_BYTE_INT = 2
    K_FOUR_BYTE_INT = 3
    K_VARINT = 4
    K_UTF8_STRING = 5
    K_BINARY = 6
    K_STRING_PAIR = 7

# Property identifiers (_constants.PropertyId) the compiled code names directly.
cdef enum:
    P_PAYLOAD_FORMAT_INDICATOR = 0x01
    P_MESSAGE_EXPIRY_INTERVAL = 0x02
    P_CONTENT_TYPE = 0x03
    P_RESPONSE_TOPIC = 0x08
    P_CORRELATION_DATA = 0x09
    P_SUBSCRIPTION_IDENTIFIER = 0x0B
    P_RECEIVE_MAXIMUM = 0x21
    P_TOPIC_ALIAS = 0x23
    P_USER_PROPERTY = 0x26
    P_MAXIMUM_PACKET_SIZE = 0x27
