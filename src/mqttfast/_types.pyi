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
from ._errors import KeepAliveTimeout as KeepAliveTimeout
from ._errors import LocalProtocolError as LocalProtocolError
from ._errors import QueueFull as QueueFull
from ._errors import ReceiveMaximumExceeded as ReceiveMaximumExceeded
from ._errors import TopicAliasInvalid as TopicAliasInvalid
from ._events import AuthRequested as AuthRequested
from ._events import Connected as Connected
from ._events import ConnectionRefused as ConnectionRefused
from ._events import ConnectRequested as ConnectRequested
from ._events import Disconnected as Disconnected
from ._events import Event as Event
from ._events import MessageReceived as MessageReceived
from ._events import PingResponse as PingResponse
from ._events import PublishCompleted as PublishCompleted
from ._events import SessionExpired as SessionExpired
from ._events import Subscribed as Subscribed
from ._events import SubscribeRequested as SubscribeRequested
from ._events import Unsubscribed as Unsubscribed
from ._events import UnsubscribeRequested as UnsubscribeRequested
from ._events import WillPublished as WillPublished
from ._session import ClientSession as ClientSession
from ._session import Outgoing as Outgoing
from ._session import ServerSession as ServerSession

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
    def match_depth_first(self, topic: str) -> list[Any]: ...
    def match_shared(self, topic: str) -> dict[tuple[str, str], list[Any]]: ...
    def __len__(self) -> int: ...
    def __contains__(self, item: object) -> bool: ...
    def __iter__(self) -> Iterator[tuple[str, Any]]: ...

class _Connection:
    # Stub only: what both sides share (the per-message core and CommonMixin).
    @property
    def state(self) -> str: ...
    @property
    def version(self) -> Optional[int]: ...
    @property
    def closed(self) -> bool: ...
    def receive_data(self, data: _Buffer, now: Optional[float] = None) -> list[Event]: ...
    def puback_received(self, packet_id: int, now: Optional[float] = None) -> bool: ...
    def data_to_send(self) -> bytes: ...
    def buffers_to_send(self) -> list[Binary]: ...
    def next_deadline(self) -> Optional[float]: ...
    def handle_timeout(self, now: float) -> list[Event]: ...
    def connection_lost(self) -> list[Event]: ...
    def ack(self, event: MessageReceived, reason_code: int = 0) -> None: ...

class ClientConnection(_Connection):
    connack: Optional[Connack]
    maximum_qos: int
    retain_available: bool
    wildcard_subscription_available: bool
    subscription_identifier_available: bool
    shared_subscription_available: bool
    @property
    def session(self) -> ClientSession: ...
    def __init__(
        self,
        version: int = 5,
        *,
        session: Optional[ClientSession] = None,
        receive_maximum: int = 65535,
        max_packet_size: Optional[int] = None,
        topic_alias_maximum: int = 0,
        auto_ack: bool = True,
        max_queued: int = 1000,
        max_inflight: Optional[int] = None,
    ) -> None: ...
    def connect(
        self,
        client_id: str = "",
        *,
        clean_start: bool = True,
        keep_alive: int = 60,
        username: Optional[str] = None,
        password: Optional[Binary] = None,
        will: Optional[Will] = None,
        session_expiry_interval: Optional[int] = None,
        authentication_method: Optional[str] = None,
        authentication_data: Optional[Binary] = None,
        request_response_information: Optional[int] = None,
        request_problem_information: Optional[int] = None,
        user_properties: Optional[UserProperties] = None,
    ) -> None: ...
    def publish(self, topic: str, payload: _Buffer = b"", qos: int = 0, retain: bool = False, **properties: Any) -> Optional[int]: ...
    def subscribe(
        self,
        subscriptions: Union[str, tuple[str, int], Subscription, list[Union[str, tuple[str, int], Subscription]]],
        qos: int = 0,
        *,
        subscription_identifier: Optional[int] = None,
        user_properties: Optional[UserProperties] = None,
    ) -> int: ...
    def unsubscribe(self, topic_filters: Union[str, list[str]], *, user_properties: Optional[UserProperties] = None) -> int: ...
    def disconnect(self, reason_code: int = 0, **properties: Any) -> None: ...
    def auth(self, data: Optional[Binary] = None, *, reason_code: Optional[int] = None, **properties: Any) -> None: ...

class ServerConnection(_Connection):
    connect_packet: Optional[Connect]
    client_id: str
    maximum_qos: int
    retain_available: bool
    wildcard_subscription_available: bool
    subscription_identifier_available: bool
    shared_subscription_available: bool
    server_keep_alive: Optional[int]
    versions: tuple[int, ...]
    assign_client_ids: bool
    connect_timeout: float
    max_queued: int
    @property
    def session(self) -> Optional[ServerSession]: ...
    def __init__(
        self,
        *,
        receive_maximum: int = 65535,
        max_packet_size: Optional[int] = None,
        topic_alias_maximum: int = 10,
        auto_ack: bool = True,
        maximum_qos: int = 2,
        retain_available: bool = True,
        wildcard_subscription_available: bool = True,
        subscription_identifier_available: bool = True,
        shared_subscription_available: bool = True,
        server_keep_alive: Optional[int] = None,
        versions: tuple[int, ...] = (3, 4, 5),
        assign_client_ids: bool = True,
        connect_timeout: float = 10.0,
        max_queued: int = 1000,
    ) -> None: ...
    def accept(self, session: Optional[ServerSession] = None, *, session_expiry_interval: Optional[int] = None, **properties: Any) -> list[Event]: ...
    def reject(self, reason_code: int, **properties: Any) -> None: ...
    def auth(self, data: Optional[Binary] = None, *, reason_code: int = 0x18, **properties: Any) -> None: ...
    def suback(self, request: SubscribeRequested, reason_codes: list[int], **properties: Any) -> None: ...
    def unsuback(self, request: UnsubscribeRequested, reason_codes: Optional[list[int]] = None, **properties: Any) -> None: ...
    def deliver(
        self,
        message: Publish,
        qos: int = 2,
        *,
        retain_as_published: bool = False,
        retained: bool = False,
        subscription_identifiers: Optional[list[int]] = None,
        expires_at: Optional[float] = None,
    ) -> Optional[int]: ...
    def disconnect(self, reason_code: int = 0, **properties: Any) -> None: ...
