"""Hypothesis strategies for valid packets of every type and version, for any implementation."""

from hypothesis import strategies as st

MAX_VARINT = 268_435_455

# Valid MQTT strings: no surrogates, no U+0000.
text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
level = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/+#"), max_size=4
)
topic_name = st.lists(level, min_size=1, max_size=4).map("/".join).filter(bool)
topic_filter = st.one_of(
    topic_name,
    st.lists(st.one_of(level, st.just("+")), min_size=1, max_size=4).map("/".join).filter(bool),
    st.lists(st.one_of(level, st.just("+")), max_size=3).map(lambda levels: "/".join([*levels, "#"])),
)
binary = st.binary(max_size=24)
u8_flag = st.sampled_from([0, 1])
u16 = st.integers(0, 0xFFFF)
u16_nonzero = st.integers(1, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
varint_nonzero = st.integers(1, MAX_VARINT)
packet_id = u16_nonzero
user_properties = st.lists(st.tuples(text, text), max_size=3)


def optional(strategy):
    return st.one_of(st.none(), strategy)


def packets(api, version):
    """Valid packets of every type for ``version`` (3, 4 or 5)."""
    v5 = version == 5

    def props(**fields):
        # MQTT 5 properties only under MQTT 5 (the 3.x encoder leaves them out).
        if not v5:
            return {}
        return {name: optional(strategy) for name, strategy in fields.items()} | {"user_properties": user_properties}

    will = st.builds(
        api.Will,
        topic=topic_name,
        payload=binary,
        qos=st.integers(0, 2),
        retain=st.booleans(),
        **props(
            payload_format_indicator=u8_flag,
            message_expiry_interval=u32,
            content_type=text,
            response_topic=topic_name,
            correlation_data=binary,
            will_delay_interval=u32,
        ),
    )
    client_id = text if version != 3 else st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=23)
    connect = st.builds(
        api.Connect,
        protocol_version=st.just(version),
        client_id=client_id,
        clean_start=st.just(True) if version == 4 else st.booleans(),
        keep_alive=u16,
        username=optional(text),
        will=optional(will),
        **props(
            session_expiry_interval=u32,
            receive_maximum=u16_nonzero,
            maximum_packet_size=st.integers(1, 0xFFFFFFFF),
            topic_alias_maximum=u16,
            request_response_information=u8_flag,
            request_problem_information=u8_flag,
            authentication_method=text,
            authentication_data=binary,
        ),
    ).flatmap(lambda c: st.builds(_with_password, st.just(c), optional(binary), st.just(version)))

    if v5:
        connack = st.builds(
            api.Connack,
            session_present=st.booleans(),
            reason_code=st.just(0),
            **props(
                session_expiry_interval=u32,
                receive_maximum=u16_nonzero,
                maximum_qos=u8_flag,
                retain_available=u8_flag,
                maximum_packet_size=st.integers(1, 0xFFFFFFFF),
                assigned_client_identifier=text,
                topic_alias_maximum=u16,
                reason_string=text,
                wildcard_subscription_available=u8_flag,
                subscription_identifier_available=u8_flag,
                shared_subscription_available=u8_flag,
                server_keep_alive=u16,
                response_information=text,
                server_reference=text,
                authentication_method=text,
                authentication_data=binary,
            ),
        ) | st.builds(api.Connack, reason_code=st.sampled_from([0x80, 0x85, 0x87, 0x9C]))
    else:
        connack = st.builds(api.Connack, session_present=st.booleans(), reason_code=st.just(0)) | st.builds(
            api.Connack, reason_code=st.integers(1, 5)
        )

    publish_props = props(
        payload_format_indicator=u8_flag,
        message_expiry_interval=u32,
        topic_alias=u16_nonzero,
        response_topic=topic_name,
        correlation_data=binary,
        content_type=text,
    )
    if v5:
        publish_props["subscription_identifiers"] = st.lists(varint_nonzero, max_size=3)
    publish = st.integers(0, 2).flatmap(
        lambda qos: st.builds(
            api.Publish,
            topic=topic_name,
            payload=st.binary(max_size=300),
            qos=st.just(qos),
            retain=st.booleans(),
            dup=st.booleans() if qos else st.just(False),
            packet_id=packet_id if qos else st.none(),
            **publish_props,
        )
    )

    def ack(cls, codes):
        return st.builds(
            cls,
            packet_id=packet_id,
            reason_code=st.sampled_from(codes) if v5 else st.just(0),
            **props(reason_string=text),
        )

    puback_codes = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
    subscription = st.builds(
        api.Subscription,
        topic_filter=topic_filter,
        qos=st.integers(0, 2),
        no_local=st.booleans() if v5 else st.just(False),
        retain_as_published=st.booleans() if v5 else st.just(False),
        retain_handling=st.integers(0, 2) if v5 else st.just(0),
    )
    subscribe = st.builds(
        api.Subscribe,
        packet_id=packet_id,
        subscriptions=st.lists(subscription, min_size=1, max_size=4),
        **props(subscription_identifier=varint_nonzero),
    )
    suback_codes = [0, 1, 2, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2] if v5 else [0, 1, 2, 0x80]
    if version == 3:
        suback_codes = [0, 1, 2]
    suback = st.builds(
        api.Suback,
        packet_id=packet_id,
        reason_codes=st.lists(st.sampled_from(suback_codes), min_size=1, max_size=4),
        **props(reason_string=text),
    )
    unsubscribe = st.builds(
        api.Unsubscribe,
        packet_id=packet_id,
        topic_filters=st.lists(topic_filter, min_size=1, max_size=4),
        **props(),
    )
    unsuback = st.builds(
        api.Unsuback,
        packet_id=packet_id,
        reason_codes=st.lists(st.sampled_from([0, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]), min_size=1, max_size=4)
        if v5
        else st.just([]),
        **props(reason_string=text),
    )
    disconnect = st.builds(
        api.Disconnect,
        reason_code=st.sampled_from([0, 4, 0x80, 0x81, 0x8E, 0x9C]) if v5 else st.just(0),
        **props(session_expiry_interval=u32, reason_string=text, server_reference=text),
    )
    choices = [
        connect,
        connack,
        publish,
        ack(api.Puback, puback_codes),
        ack(api.Pubrec, puback_codes),
        ack(api.Pubrel, [0, 0x92]),
        ack(api.Pubcomp, [0, 0x92]),
        subscribe,
        suback,
        unsubscribe,
        unsuback,
        st.builds(api.Pingreq),
        st.builds(api.Pingresp),
        disconnect,
    ]
    if v5:
        choices.append(
            st.builds(
                api.Auth,
                reason_code=st.sampled_from([0, 0x18, 0x19]),
                **props(authentication_method=text, authentication_data=binary, reason_string=text),
            )
        )
    return st.one_of(choices)


def _with_password(connect, password, version):
    # Before MQTT 5 a password needs a user name [MQTT-3.1.2-22].
    if version == 5 or connect.username is not None:
        connect.password = password
    return connect
