# The public API, described once for mqttfast, mqttfast.fallback and mqttfast._compiled.
from typing_extensions import Buffer as _Buffer
from typing import Any, Callable, ClassVar, Iterator, Optional, Union

from ._constants import DEFAULT_MAX_PACKET_SIZE as DEFAULT_MAX_PACKET_SIZE
from ._constants import DEFAULT_MAX_PROPERTIES as DEFAULT_MAX_PROPERTIES
from ._constants import MAX_VARINT as MAX_VARINT
from ._constants import MQTT_3_1 as MQTT_3_1
from ._constants import MQTT_3_1_1 as MQTT_3_1_1
from ._constants import MQTT_5 as MQTT_5
from ._constants import PacketType as PacketType
from ._constants import PropertyId as PropertyId
from ._constants import ReasonCode as ReasonCode
from ._errors import Incomplete as Incomplete
from ._errors import InvalidTopicFilter as InvalidTopicFilter
from ._errors import InvalidTopicName as InvalidTopicName
from ._errors import MalformedPacket as MalformedPacket
from ._errors import MQTTError as MQTTError
from ._errors import PacketTooLarge as PacketTooLarge
from ._errors import ProtocolError as ProtocolError
from ._errors import UnsupportedProtocolVersion as UnsupportedProtocolVersion
from ._errors import ClientIdentifierNotValid as ClientIdentifierNotValid

IMPLEMENTATION: str
Binary = Union[bytes, memoryview]
UserProperties = list[tuple[str, str]]

def encode_varint(value: int) -> bytes: ...
def decode_varint(data: _Buffer, offset: int = 0) -> tuple[int, int]: ...
def varint_size(value: int) -> int: ...

class Will:
    topic: str
    payload: Binary
    qos: int
    retain: bool
    payload_format_indicator: Optional[int]
    message_expiry_interval: Optional[int]
    content_type: Optional[str]
    response_topic: Optional[str]
    correlation_data: Optional[Binary]
    will_delay_interval: Optional[int]
    user_properties: UserProperties
    def __init__(
        self,
        *,
        topic: str = ...,
        payload: Binary = ...,
        qos: int = ...,
        retain: bool = ...,
        payload_format_indicator: Optional[int] = ...,
        message_expiry_interval: Optional[int] = ...,
        content_type: Optional[str] = ...,
        response_topic: Optional[str] = ...,
        correlation_data: Optional[Binary] = ...,
        will_delay_interval: Optional[int] = ...,
        user_properties: Optional[UserProperties] = ...,
    ) -> None: ...
    def to_publish(self) -> Publish: ...

class Connect:
    packet_type: ClassVar[PacketType]
    protocol_version: Optional[int]
    bridge: bool
    client_id: str
    clean_start: bool
    keep_alive: int
    username: Optional[str]
    password: Optional[Binary]
    will: Optional[Will]
    session_expiry_interval: Optional[int]
    receive_maximum: Optional[int]
    maximum_packet_size: Optional[int]
    topic_alias_maximum: Optional[int]
    request_response_information: Optional[int]
    request_problem_information: Optional[int]
    authentication_method: Optional[str]
    authentication_data: Optional[Binary]
    user_properties: UserProperties
    def __init__(self, **fields: Any) -> None: ...

class Connack:
    packet_type: ClassVar[PacketType]
    session_present: bool
    reason_code: int
    session_expiry_interval: Optional[int]
    receive_maximum: Optional[int]
    maximum_qos: Optional[int]
    retain_available: Optional[int]
    maximum_packet_size: Optional[int]
    assigned_client_identifier: Optional[str]
    topic_alias_maximum: Optional[int]
    reason_string: Optional[str]
    wildcard_subscription_available: Optional[int]
    subscription_identifier_available: Optional[int]
    shared_subscription_available: Optional[int]
    server_keep_alive: Optional[int]
    response_information: Optional[str]
    server_reference: Optional[str]
    authentication_method: Optional[str]
    authentication_data: Optional[Binary]
    user_properties: UserProperties
    def __init__(self, **fields: Any) -> None: ...

class Publish:
    packet_type: ClassVar[PacketType]
    topic: str
    payload: Binary
    qos: int
    retain: bool
    dup: bool
    packet_id: Optional[int]
    payload_format_indicator: Optional[int]
    message_expiry_interval: Optional[int]
    topic_alias: Optional[int]
    response_topic: Optional[str]
    correlation_data: Optional[Binary]
    subscription_identifiers: list[int]
    content_type: Optional[str]
    user_properties: UserProperties
    def __init__(self, **fields: Any) -> None: ...

class _Ack:
    packet_type: ClassVar[PacketType]
    packet_id: int
    reason_code: int
    reason_string: Optional[str]
    user_properties: UserProperties
    def __init__(self, **fields: Any) -> None: ...

class Puback(_Ack): ...
class Pubrec(_Ack): ...
class Pubrel(_Ack): ...
class Pubcomp(_Ack): ...

class Subscription:
    topic_filter: str
    qos: int
    no_local: bool
    retain_as_published: bool
    retain_handling: int
    def __init__(self, **fields: Any) -> None: ...

class Subscribe:
    packet_type: ClassVar[PacketType]
    packet_id: int
    subscriptions: list[Subscription]
    subscription_identifier: Optional[int]
    user_properties: UserProperties
    def __init__(self, **fields: Any) -> None: ...

class _Reasons:
    # Stub only: SUBACK and UNSUBACK have the same fields (no common base at run time).
    packet_type: ClassVar[PacketType]
    packet_id: int
    reason_codes: list[int]
    reason_string: Optional[str]
    user_properties: UserProperties
    def __init__(self, **fields: Any) -> None: ...

class Suback(_Reasons): ...

class Unsubscribe:
    packet_type: ClassVar[PacketType]
    packet_id: int
    topic_filters: list[str]
    user_properties: UserProperties
    def __init__(self, **fields: Any) -> None: ...

class Unsuback(_Reasons): ...

class Pingreq:
    packet_type: ClassVar[PacketType]
    def __init__(self) -> None: ...

class Pingresp:
    packet_type: ClassVar[PacketType]
    def __init__(self) -> None: ...

class Disconnect:
    packet_type: ClassVar[PacketType]
    reason_code: int
    session_expiry_interval: Optional[int]
    reason_string: Optional[str]
    server_reference: Optional[str]
    user_properties: UserProperties
    def __init__(self, **fields: Any) -> None: ...

class Auth:
    packet_type: ClassVar[PacketType]
    reason_code: int
    authentication_method: Optional[str]
    authentication_data: Optional[Binary]
    reason_string: Optional[str]
    user_properties: UserProperties
    def __init__(self, **fields: Any) -> None: ...

Packet = Union[
    Connect, Connack, Publish, Puback, Pubrec, Pubrel, Pubcomp, Subscribe, Suback,
    Unsubscribe, Unsuback, Pingreq, Pingresp, Disconnect, Auth,
]

def decode(
    data: _Buffer,
    version: Optional[int] = None,
    *,
    max_packet_size: int = ...,
    max_properties: int = ...,
    copy: bool = False,
) -> tuple[Packet, int]: ...
def encode(packet: Packet, version: Optional[int] = None) -> bytes: ...
def encoded_size(packet: Packet, version: Optional[int] = None) -> int: ...
def encode_into(packet: Packet, buffer: _Buffer, offset: int = 0, version: Optional[int] = None) -> int: ...
def encode_forward(
    packet: Publish,
    version: Optional[int] = None,
    *,
    granted_qos: int,
    packet_id: Union[int, Callable[[], int], None] = None,
    retain_as_published: bool = False,
    retained_delivery: bool = False,
    topic: Optional[str] = None,
    topic_alias: Optional[int] = None,
    subscription_identifiers: Optional[list[int]] = None,
    message_expiry_interval: Optional[int] = ...,
) -> tuple[bytes, Binary]: ...

class Decoder:
    version: Optional[int]
    max_packet_size: int
    @property
    def pending(self) -> int: ...
    max_properties: int
    copy_threshold: int
    def __init__(
        self,
        version: Optional[int] = None,
        *,
        max_packet_size: int = ...,
        max_properties: int = ...,
        copy: bool = False,
        copy_threshold: int = ...,
    ) -> None: ...
    def feed(self, data: _Buffer) -> list[Packet]: ...
    def get_buffer(self, sizehint: int = -1) -> memoryview: ...
    def buffer_updated(self, nbytes: int) -> list[Packet]: ...

def validate_topic_name(topic: str) -> None: ...
def validate_topic_filter(topic_filter: str) -> None: ...
def topic_matches(topic_filter: str, topic: str) -> bool: ...

class TopicMatcher:
    @property
    def max_levels(self) -> int: ...
    def __init__(self, *, max_levels: int = 128) -> None: ...
    def subscribe(self, topic_filter: str, value: Any) -> bool: ...
    def unsubscribe(self, topic_filter: str, value: Any) -> bool: ...
    def match(self, topic: str) -> list[Any]: ...
    def match_shared(self, topic: str) -> dict[tuple[str, str], list[Any]]: ...
    def __len__(self) -> int: ...
    def __contains__(self, item: object) -> bool: ...
    def __iter__(self) -> Iterator[tuple[str, Any]]: ...
