"""Sample field values shared by several test modules."""

#: Every MQTT 5 property a PUBLISH can carry, each with a value that is not its default.
ALL_PUBLISH_PROPERTIES = dict(
    payload_format_indicator=1,
    message_expiry_interval=3600,
    content_type="application/json",
    response_topic="replies/42",
    correlation_data=b"\x00\x01corr",
    subscription_identifiers=[5, 300, 268_435_455],
    topic_alias=9,
    user_properties=[("unit", "celsius"), ("zone", "kitchen")],
)
