//! MQTT 5 properties (§2.2.2, §3.x.2.2): one typed struct per packet family.
//!
//! Decoding enforces the spec's per-packet property sets (a property a packet may not carry is
//! malformed), duplicates (a protocol error for every property except User Property and, on
//! PUBLISH, Subscription Identifier) and value ranges. User properties keep their order.

use std::num::{NonZeroU16, NonZeroU32};

use bytes::Bytes;

use crate::error::{DecodeError, EncodeError};
use crate::packet::{PacketType, QoS};
use crate::topic::TopicName;
use crate::wire::{Reader, Sink, Sizer, VBI_MAX};

/// Property identifiers (§2.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PropertyId {
    /// 0x01, byte.
    PayloadFormatIndicator = 0x01,
    /// 0x02, four-byte integer.
    MessageExpiryInterval = 0x02,
    /// 0x03, UTF-8 string.
    ContentType = 0x03,
    /// 0x08, UTF-8 string.
    ResponseTopic = 0x08,
    /// 0x09, binary data.
    CorrelationData = 0x09,
    /// 0x0B, variable byte integer.
    SubscriptionIdentifier = 0x0B,
    /// 0x11, four-byte integer.
    SessionExpiryInterval = 0x11,
    /// 0x12, UTF-8 string.
    AssignedClientIdentifier = 0x12,
    /// 0x13, two-byte integer.
    ServerKeepAlive = 0x13,
    /// 0x15, UTF-8 string.
    AuthenticationMethod = 0x15,
    /// 0x16, binary data.
    AuthenticationData = 0x16,
    /// 0x17, byte.
    RequestProblemInformation = 0x17,
    /// 0x18, four-byte integer.
    WillDelayInterval = 0x18,
    /// 0x19, byte.
    RequestResponseInformation = 0x19,
    /// 0x1A, UTF-8 string.
    ResponseInformation = 0x1A,
    /// 0x1C, UTF-8 string.
    ServerReference = 0x1C,
    /// 0x1F, UTF-8 string.
    ReasonString = 0x1F,
    /// 0x21, two-byte integer.
    ReceiveMaximum = 0x21,
    /// 0x22, two-byte integer.
    TopicAliasMaximum = 0x22,
    /// 0x23, two-byte integer.
    TopicAlias = 0x23,
    /// 0x24, byte.
    MaximumQoS = 0x24,
    /// 0x25, byte.
    RetainAvailable = 0x25,
    /// 0x26, UTF-8 string pair.
    UserProperty = 0x26,
    /// 0x27, four-byte integer.
    MaximumPacketSize = 0x27,
    /// 0x28, byte.
    WildcardSubscriptionAvailable = 0x28,
    /// 0x29, byte.
    SubscriptionIdentifierAvailable = 0x29,
    /// 0x2A, byte.
    SharedSubscriptionAvailable = 0x2A,
}

impl PropertyId {
    /// The property for an identifier, `None` for identifiers the spec does not define.
    ///
    /// Identifiers are variable byte integers on the wire, but all defined ones fit in one
    /// byte, so any larger value is unknown as well.
    pub fn from_u32(id: u32) -> Option<PropertyId> {
        use PropertyId::*;
        Some(match id {
            0x01 => PayloadFormatIndicator,
            0x02 => MessageExpiryInterval,
            0x03 => ContentType,
            0x08 => ResponseTopic,
            0x09 => CorrelationData,
            0x0B => SubscriptionIdentifier,
            0x11 => SessionExpiryInterval,
            0x12 => AssignedClientIdentifier,
            0x13 => ServerKeepAlive,
            0x15 => AuthenticationMethod,
            0x16 => AuthenticationData,
            0x17 => RequestProblemInformation,
            0x18 => WillDelayInterval,
            0x19 => RequestResponseInformation,
            0x1A => ResponseInformation,
            0x1C => ServerReference,
            0x1F => ReasonString,
            0x21 => ReceiveMaximum,
            0x22 => TopicAliasMaximum,
            0x23 => TopicAlias,
            0x24 => MaximumQoS,
            0x25 => RetainAvailable,
            0x26 => UserProperty,
            0x27 => MaximumPacketSize,
            0x28 => WildcardSubscriptionAvailable,
            0x29 => SubscriptionIdentifierAvailable,
            0x2A => SharedSubscriptionAvailable,
            _ => return None,
        })
    }
}

/// Payload Format Indicator values (§3.3.2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayloadFormat {
    /// 0: unspecified bytes.
    Unspecified = 0,
    /// 1: UTF-8 encoded character data.
    Utf8 = 1,
}

/// User properties: name/value pairs, ordered, names may repeat (§3.1.2.11.8).
pub type UserProperties = Vec<(String, String)>;

/// CONNECT properties (§3.1.2.11).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnectProperties {
    /// Session Expiry Interval in seconds; absent means 0, `u32::MAX` means never.
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum: QoS 1/2 publications the client accepts concurrently.
    pub receive_maximum: Option<NonZeroU16>,
    /// Maximum Packet Size the client accepts, in bytes.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// Topic Alias Maximum the client accepts; absent means 0.
    pub topic_alias_maximum: Option<u16>,
    /// Request Response Information.
    pub request_response_information: Option<bool>,
    /// Request Problem Information.
    pub request_problem_information: Option<bool>,
    /// User properties.
    pub user_properties: UserProperties,
    /// Authentication Method for enhanced authentication.
    pub authentication_method: Option<String>,
    /// Authentication Data (only with a method).
    pub authentication_data: Option<Bytes>,
}

/// Will properties (§3.1.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WillProperties {
    /// Will Delay Interval in seconds; absent means 0.
    pub will_delay_interval: Option<u32>,
    /// Payload Format Indicator.
    pub payload_format_indicator: Option<PayloadFormat>,
    /// Message Expiry Interval in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Content Type.
    pub content_type: Option<String>,
    /// Response Topic (no wildcards, [MQTT-3.3.2-14]).
    pub response_topic: Option<TopicName>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User properties.
    pub user_properties: UserProperties,
}

/// CONNACK properties (§3.2.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConnAckProperties {
    /// Session Expiry Interval the server uses, in seconds.
    pub session_expiry_interval: Option<u32>,
    /// Receive Maximum of the server.
    pub receive_maximum: Option<NonZeroU16>,
    /// Maximum QoS the server supports: 0 or 1 (absent means 2).
    pub maximum_qos: Option<QoS>,
    /// Retain Available.
    pub retain_available: Option<bool>,
    /// Maximum Packet Size the server accepts, in bytes.
    pub maximum_packet_size: Option<NonZeroU32>,
    /// Assigned Client Identifier, when the client sent an empty one.
    pub assigned_client_identifier: Option<String>,
    /// Topic Alias Maximum of the server.
    pub topic_alias_maximum: Option<u16>,
    /// Reason String.
    pub reason_string: Option<String>,
    /// User properties.
    pub user_properties: UserProperties,
    /// Wildcard Subscription Available.
    pub wildcard_subscription_available: Option<bool>,
    /// Subscription Identifiers Available.
    pub subscription_identifiers_available: Option<bool>,
    /// Shared Subscription Available.
    pub shared_subscription_available: Option<bool>,
    /// Server Keep Alive in seconds, overriding the client's.
    pub server_keep_alive: Option<u16>,
    /// Response Information.
    pub response_information: Option<String>,
    /// Server Reference.
    pub server_reference: Option<String>,
    /// Authentication Method.
    pub authentication_method: Option<String>,
    /// Authentication Data.
    pub authentication_data: Option<Bytes>,
}

/// PUBLISH properties (§3.3.2.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishProperties {
    /// Payload Format Indicator.
    pub payload_format_indicator: Option<PayloadFormat>,
    /// Message Expiry Interval in seconds.
    pub message_expiry_interval: Option<u32>,
    /// Topic Alias (never 0).
    pub topic_alias: Option<NonZeroU16>,
    /// Response Topic (no wildcards, [MQTT-3.3.2-14]).
    pub response_topic: Option<TopicName>,
    /// Correlation Data.
    pub correlation_data: Option<Bytes>,
    /// User properties, order kept ([MQTT-3.3.2-18]).
    pub user_properties: UserProperties,
    /// Subscription Identifiers of the matching subscriptions (server to client only), each
    /// 1..=268 435 455.
    pub subscription_identifiers: Vec<NonZeroU32>,
    /// Content Type.
    pub content_type: Option<String>,
}

/// Properties of PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AckProperties {
    /// Reason String.
    pub reason_string: Option<String>,
    /// User properties.
    pub user_properties: UserProperties,
}

impl AckProperties {
    /// True when no property is set, so the packet can use its short form.
    pub fn is_empty(&self) -> bool {
        self.reason_string.is_none() && self.user_properties.is_empty()
    }
}

/// SUBSCRIBE properties (§3.8.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscribeProperties {
    /// Subscription Identifier, 1..=268 435 455.
    pub subscription_identifier: Option<NonZeroU32>,
    /// User properties.
    pub user_properties: UserProperties,
}

/// UNSUBSCRIBE properties (§3.10.2.1).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnsubscribeProperties {
    /// User properties.
    pub user_properties: UserProperties,
}

/// DISCONNECT properties (§3.14.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DisconnectProperties {
    /// Session Expiry Interval in seconds (client to server only).
    pub session_expiry_interval: Option<u32>,
    /// Reason String.
    pub reason_string: Option<String>,
    /// User properties.
    pub user_properties: UserProperties,
    /// Server Reference.
    pub server_reference: Option<String>,
}

impl DisconnectProperties {
    /// True when no property is set, so the packet can use its short form.
    pub fn is_empty(&self) -> bool {
        self.session_expiry_interval.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
            && self.server_reference.is_none()
    }
}

/// AUTH properties (§3.15.2.2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthProperties {
    /// Authentication Method.
    pub authentication_method: Option<String>,
    /// Authentication Data.
    pub authentication_data: Option<Bytes>,
    /// Reason String.
    pub reason_string: Option<String>,
    /// User properties.
    pub user_properties: UserProperties,
}

impl AuthProperties {
    /// True when no property is set, so the packet can use its short form.
    pub fn is_empty(&self) -> bool {
        self.authentication_method.is_none()
            && self.authentication_data.is_none()
            && self.reason_string.is_none()
            && self.user_properties.is_empty()
    }
}

// ---- decoding ----

/// A property set that can take properties one by one off the wire.
pub(crate) trait DecodeProperties: Default {
    /// Reads the value of `id` into `self`; `Ok(false)` if this set does not allow `id`
    /// (nothing is read then).
    fn accept(&mut self, id: PropertyId, r: &mut Reader) -> Result<bool, DecodeError>;

    /// Checks rules that span properties, once all are read.
    fn finish(&self) -> Result<(), DecodeError> {
        Ok(())
    }
}

/// Reads a property length and the properties it covers (§2.2.2.1); `packet` names the
/// packet for errors about properties it may not carry.
pub(crate) fn decode_properties<P: DecodeProperties>(
    r: &mut Reader,
    packet: PacketType,
) -> Result<P, DecodeError> {
    let len = r.vbi()?;
    // Values inside the section must end where the property length says.
    let mut section = r.section(len as usize, "property value runs past the property length")?;
    let mut props = P::default();
    while !section.is_empty() {
        let raw_id = section.vbi()?;
        let Some(id) = PropertyId::from_u32(raw_id) else {
            return Err(DecodeError::UnknownProperty { id: raw_id });
        };
        if !props.accept(id, &mut section)? {
            return Err(DecodeError::PropertyNotAllowed {
                property: id,
                packet,
            });
        }
    }
    props.finish()?;
    Ok(props)
}

fn once<T>(slot: &mut Option<T>, id: PropertyId, value: T) -> Result<bool, DecodeError> {
    if slot.is_some() {
        return Err(DecodeError::DuplicateProperty { property: id });
    }
    *slot = Some(value);
    Ok(true)
}

fn flag(r: &mut Reader, id: PropertyId) -> Result<bool, DecodeError> {
    match r.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(DecodeError::InvalidPropertyValue {
            property: id,
            detail: "value is neither 0 nor 1",
        }),
    }
}

fn nonzero_u16(r: &mut Reader, id: PropertyId) -> Result<NonZeroU16, DecodeError> {
    NonZeroU16::new(r.u16()?).ok_or(DecodeError::InvalidPropertyValue {
        property: id,
        detail: "value is 0",
    })
}

fn nonzero_u32(r: &mut Reader, id: PropertyId) -> Result<NonZeroU32, DecodeError> {
    NonZeroU32::new(r.u32()?).ok_or(DecodeError::InvalidPropertyValue {
        property: id,
        detail: "value is 0",
    })
}

fn subscription_id(r: &mut Reader) -> Result<NonZeroU32, DecodeError> {
    NonZeroU32::new(r.vbi()?).ok_or(DecodeError::InvalidPropertyValue {
        property: PropertyId::SubscriptionIdentifier,
        detail: "subscription identifier is 0",
    })
}

fn payload_format(r: &mut Reader) -> Result<PayloadFormat, DecodeError> {
    match r.u8()? {
        0 => Ok(PayloadFormat::Unspecified),
        1 => Ok(PayloadFormat::Utf8),
        _ => Err(DecodeError::InvalidPropertyValue {
            property: PropertyId::PayloadFormatIndicator,
            detail: "payload format indicator is neither 0 nor 1",
        }),
    }
}

fn response_topic(r: &mut Reader) -> Result<TopicName, DecodeError> {
    let text = r.string()?;
    TopicName::new(&text).map_err(|_| DecodeError::InvalidPropertyValue {
        property: PropertyId::ResponseTopic,
        detail: "[MQTT-3.3.2-14] response topic is empty or contains a wildcard",
    })
}

fn user_property(r: &mut Reader, list: &mut UserProperties) -> Result<bool, DecodeError> {
    let name = r.string()?;
    let value = r.string()?;
    list.push((name, value));
    Ok(true)
}

fn auth_data_needs_method(
    method: &Option<String>,
    data: &Option<Bytes>,
) -> Result<(), DecodeError> {
    if data.is_some() && method.is_none() {
        return Err(DecodeError::InvalidPropertyValue {
            property: PropertyId::AuthenticationData,
            detail: "authentication data without an authentication method",
        });
    }
    Ok(())
}

impl DecodeProperties for ConnectProperties {
    fn accept(&mut self, id: PropertyId, r: &mut Reader) -> Result<bool, DecodeError> {
        use PropertyId::*;
        match id {
            SessionExpiryInterval => once(&mut self.session_expiry_interval, id, r.u32()?),
            ReceiveMaximum => once(&mut self.receive_maximum, id, nonzero_u16(r, id)?),
            MaximumPacketSize => once(&mut self.maximum_packet_size, id, nonzero_u32(r, id)?),
            TopicAliasMaximum => once(&mut self.topic_alias_maximum, id, r.u16()?),
            RequestResponseInformation => {
                once(&mut self.request_response_information, id, flag(r, id)?)
            }
            RequestProblemInformation => {
                once(&mut self.request_problem_information, id, flag(r, id)?)
            }
            UserProperty => user_property(r, &mut self.user_properties),
            AuthenticationMethod => once(&mut self.authentication_method, id, r.string()?),
            AuthenticationData => once(&mut self.authentication_data, id, r.binary()?),
            _ => Ok(false),
        }
    }

    fn finish(&self) -> Result<(), DecodeError> {
        auth_data_needs_method(&self.authentication_method, &self.authentication_data)
    }
}

impl DecodeProperties for WillProperties {
    fn accept(&mut self, id: PropertyId, r: &mut Reader) -> Result<bool, DecodeError> {
        use PropertyId::*;
        match id {
            WillDelayInterval => once(&mut self.will_delay_interval, id, r.u32()?),
            PayloadFormatIndicator => {
                once(&mut self.payload_format_indicator, id, payload_format(r)?)
            }
            MessageExpiryInterval => once(&mut self.message_expiry_interval, id, r.u32()?),
            ContentType => once(&mut self.content_type, id, r.string()?),
            ResponseTopic => once(&mut self.response_topic, id, response_topic(r)?),
            CorrelationData => once(&mut self.correlation_data, id, r.binary()?),
            UserProperty => user_property(r, &mut self.user_properties),
            _ => Ok(false),
        }
    }
}

impl DecodeProperties for ConnAckProperties {
    fn accept(&mut self, id: PropertyId, r: &mut Reader) -> Result<bool, DecodeError> {
        use PropertyId::*;
        match id {
            SessionExpiryInterval => once(&mut self.session_expiry_interval, id, r.u32()?),
            ReceiveMaximum => once(&mut self.receive_maximum, id, nonzero_u16(r, id)?),
            MaximumQoS => {
                let qos = match r.u8()? {
                    0 => QoS::AtMostOnce,
                    1 => QoS::AtLeastOnce,
                    _ => {
                        return Err(DecodeError::InvalidPropertyValue {
                            property: id,
                            detail: "maximum QoS is neither 0 nor 1",
                        });
                    }
                };
                once(&mut self.maximum_qos, id, qos)
            }
            RetainAvailable => once(&mut self.retain_available, id, flag(r, id)?),
            MaximumPacketSize => once(&mut self.maximum_packet_size, id, nonzero_u32(r, id)?),
            AssignedClientIdentifier => once(&mut self.assigned_client_identifier, id, r.string()?),
            TopicAliasMaximum => once(&mut self.topic_alias_maximum, id, r.u16()?),
            ReasonString => once(&mut self.reason_string, id, r.string()?),
            UserProperty => user_property(r, &mut self.user_properties),
            WildcardSubscriptionAvailable => {
                once(&mut self.wildcard_subscription_available, id, flag(r, id)?)
            }
            SubscriptionIdentifierAvailable => once(
                &mut self.subscription_identifiers_available,
                id,
                flag(r, id)?,
            ),
            SharedSubscriptionAvailable => {
                once(&mut self.shared_subscription_available, id, flag(r, id)?)
            }
            ServerKeepAlive => once(&mut self.server_keep_alive, id, r.u16()?),
            ResponseInformation => once(&mut self.response_information, id, r.string()?),
            ServerReference => once(&mut self.server_reference, id, r.string()?),
            AuthenticationMethod => once(&mut self.authentication_method, id, r.string()?),
            AuthenticationData => once(&mut self.authentication_data, id, r.binary()?),
            _ => Ok(false),
        }
    }

    fn finish(&self) -> Result<(), DecodeError> {
        auth_data_needs_method(&self.authentication_method, &self.authentication_data)
    }
}

impl DecodeProperties for PublishProperties {
    fn accept(&mut self, id: PropertyId, r: &mut Reader) -> Result<bool, DecodeError> {
        use PropertyId::*;
        match id {
            PayloadFormatIndicator => {
                once(&mut self.payload_format_indicator, id, payload_format(r)?)
            }
            MessageExpiryInterval => once(&mut self.message_expiry_interval, id, r.u32()?),
            TopicAlias => {
                let alias = NonZeroU16::new(r.u16()?).ok_or(DecodeError::TopicAliasInvalid {
                    detail: "[MQTT-3.3.2-8] topic alias is 0",
                })?;
                once(&mut self.topic_alias, id, alias)
            }
            ResponseTopic => once(&mut self.response_topic, id, response_topic(r)?),
            CorrelationData => once(&mut self.correlation_data, id, r.binary()?),
            UserProperty => user_property(r, &mut self.user_properties),
            SubscriptionIdentifier => {
                self.subscription_identifiers.push(subscription_id(r)?);
                Ok(true)
            }
            ContentType => once(&mut self.content_type, id, r.string()?),
            _ => Ok(false),
        }
    }
}

impl DecodeProperties for AckProperties {
    fn accept(&mut self, id: PropertyId, r: &mut Reader) -> Result<bool, DecodeError> {
        match id {
            PropertyId::ReasonString => once(&mut self.reason_string, id, r.string()?),
            PropertyId::UserProperty => user_property(r, &mut self.user_properties),
            _ => Ok(false),
        }
    }
}

impl DecodeProperties for SubscribeProperties {
    fn accept(&mut self, id: PropertyId, r: &mut Reader) -> Result<bool, DecodeError> {
        match id {
            PropertyId::SubscriptionIdentifier => {
                once(&mut self.subscription_identifier, id, subscription_id(r)?)
            }
            PropertyId::UserProperty => user_property(r, &mut self.user_properties),
            _ => Ok(false),
        }
    }
}

impl DecodeProperties for UnsubscribeProperties {
    fn accept(&mut self, id: PropertyId, r: &mut Reader) -> Result<bool, DecodeError> {
        match id {
            PropertyId::UserProperty => user_property(r, &mut self.user_properties),
            _ => Ok(false),
        }
    }
}

impl DecodeProperties for DisconnectProperties {
    fn accept(&mut self, id: PropertyId, r: &mut Reader) -> Result<bool, DecodeError> {
        use PropertyId::*;
        match id {
            SessionExpiryInterval => once(&mut self.session_expiry_interval, id, r.u32()?),
            ReasonString => once(&mut self.reason_string, id, r.string()?),
            UserProperty => user_property(r, &mut self.user_properties),
            ServerReference => once(&mut self.server_reference, id, r.string()?),
            _ => Ok(false),
        }
    }
}

impl DecodeProperties for AuthProperties {
    fn accept(&mut self, id: PropertyId, r: &mut Reader) -> Result<bool, DecodeError> {
        use PropertyId::*;
        match id {
            AuthenticationMethod => once(&mut self.authentication_method, id, r.string()?),
            AuthenticationData => once(&mut self.authentication_data, id, r.binary()?),
            ReasonString => once(&mut self.reason_string, id, r.string()?),
            UserProperty => user_property(r, &mut self.user_properties),
            _ => Ok(false),
        }
    }

    fn finish(&self) -> Result<(), DecodeError> {
        auth_data_needs_method(&self.authentication_method, &self.authentication_data)
    }
}

// ---- encoding ----

/// A property set that can write itself to a [`Sink`], without its length prefix.
pub(crate) trait EncodeProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError>;
}

/// Writes the property length, then the properties.
pub(crate) fn encode_properties<P: EncodeProperties, S: Sink>(
    props: &P,
    s: &mut S,
) -> Result<(), EncodeError> {
    let mut sizer = Sizer::default();
    props.emit(&mut sizer)?;
    let len = u32::try_from(sizer.len).unwrap_or(u32::MAX);
    s.vbi("property length", len)?;
    props.emit(s)
}

fn put_u8<S: Sink>(s: &mut S, id: PropertyId, value: Option<u8>) {
    if let Some(v) = value {
        s.u8(id as u8);
        s.u8(v);
    }
}

fn put_flag<S: Sink>(s: &mut S, id: PropertyId, value: Option<bool>) {
    put_u8(s, id, value.map(u8::from));
}

fn put_u16<S: Sink>(s: &mut S, id: PropertyId, value: Option<u16>) {
    if let Some(v) = value {
        s.u8(id as u8);
        s.u16(v);
    }
}

fn put_u32<S: Sink>(s: &mut S, id: PropertyId, value: Option<u32>) {
    if let Some(v) = value {
        s.u8(id as u8);
        s.u32(v);
    }
}

fn put_str<S: Sink>(
    s: &mut S,
    id: PropertyId,
    field: &'static str,
    value: Option<&str>,
) -> Result<(), EncodeError> {
    if let Some(v) = value {
        s.u8(id as u8);
        s.string(field, v)?;
    }
    Ok(())
}

fn put_bin<S: Sink>(
    s: &mut S,
    id: PropertyId,
    field: &'static str,
    value: Option<&Bytes>,
) -> Result<(), EncodeError> {
    if let Some(v) = value {
        s.u8(id as u8);
        s.binary(field, v)?;
    }
    Ok(())
}

fn put_subscription_id<S: Sink>(s: &mut S, value: NonZeroU32) -> Result<(), EncodeError> {
    if value.get() > VBI_MAX {
        return Err(EncodeError::ValueTooLarge {
            field: "subscription identifier",
            value: u64::from(value.get()),
        });
    }
    s.u8(PropertyId::SubscriptionIdentifier as u8);
    s.vbi("subscription identifier", value.get())
}

fn put_user_properties<S: Sink>(s: &mut S, list: &UserProperties) -> Result<(), EncodeError> {
    for (name, value) in list {
        s.u8(PropertyId::UserProperty as u8);
        s.string("user property name", name)?;
        s.string("user property value", value)?;
    }
    Ok(())
}

impl EncodeProperties for ConnectProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId::*;
        put_u32(s, SessionExpiryInterval, self.session_expiry_interval);
        put_u16(s, ReceiveMaximum, self.receive_maximum.map(NonZeroU16::get));
        put_u32(
            s,
            MaximumPacketSize,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        put_u16(s, TopicAliasMaximum, self.topic_alias_maximum);
        put_flag(
            s,
            RequestResponseInformation,
            self.request_response_information,
        );
        put_flag(
            s,
            RequestProblemInformation,
            self.request_problem_information,
        );
        put_user_properties(s, &self.user_properties)?;
        put_str(
            s,
            AuthenticationMethod,
            "authentication method",
            self.authentication_method.as_deref(),
        )?;
        put_bin(
            s,
            AuthenticationData,
            "authentication data",
            self.authentication_data.as_ref(),
        )
    }
}

impl EncodeProperties for WillProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId::*;
        put_u32(s, WillDelayInterval, self.will_delay_interval);
        put_u8(
            s,
            PayloadFormatIndicator,
            self.payload_format_indicator.map(|f| f as u8),
        );
        put_u32(s, MessageExpiryInterval, self.message_expiry_interval);
        put_str(s, ContentType, "content type", self.content_type.as_deref())?;
        put_str(
            s,
            ResponseTopic,
            "response topic",
            self.response_topic.as_deref(),
        )?;
        put_bin(
            s,
            CorrelationData,
            "correlation data",
            self.correlation_data.as_ref(),
        )?;
        put_user_properties(s, &self.user_properties)
    }
}

impl EncodeProperties for ConnAckProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId::*;
        put_u32(s, SessionExpiryInterval, self.session_expiry_interval);
        put_u16(s, ReceiveMaximum, self.receive_maximum.map(NonZeroU16::get));
        put_u8(s, MaximumQoS, self.maximum_qos.map(u8::from));
        put_flag(s, RetainAvailable, self.retain_available);
        put_u32(
            s,
            MaximumPacketSize,
            self.maximum_packet_size.map(NonZeroU32::get),
        );
        put_str(
            s,
            AssignedClientIdentifier,
            "assigned client identifier",
            self.assigned_client_identifier.as_deref(),
        )?;
        put_u16(s, TopicAliasMaximum, self.topic_alias_maximum);
        put_str(
            s,
            ReasonString,
            "reason string",
            self.reason_string.as_deref(),
        )?;
        put_user_properties(s, &self.user_properties)?;
        put_flag(
            s,
            WildcardSubscriptionAvailable,
            self.wildcard_subscription_available,
        );
        put_flag(
            s,
            SubscriptionIdentifierAvailable,
            self.subscription_identifiers_available,
        );
        put_flag(
            s,
            SharedSubscriptionAvailable,
            self.shared_subscription_available,
        );
        put_u16(s, ServerKeepAlive, self.server_keep_alive);
        put_str(
            s,
            ResponseInformation,
            "response information",
            self.response_information.as_deref(),
        )?;
        put_str(
            s,
            ServerReference,
            "server reference",
            self.server_reference.as_deref(),
        )?;
        put_str(
            s,
            AuthenticationMethod,
            "authentication method",
            self.authentication_method.as_deref(),
        )?;
        put_bin(
            s,
            AuthenticationData,
            "authentication data",
            self.authentication_data.as_ref(),
        )
    }
}

impl EncodeProperties for PublishProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId::*;
        put_u8(
            s,
            PayloadFormatIndicator,
            self.payload_format_indicator.map(|f| f as u8),
        );
        put_u32(s, MessageExpiryInterval, self.message_expiry_interval);
        put_u16(s, TopicAlias, self.topic_alias.map(NonZeroU16::get));
        put_str(
            s,
            ResponseTopic,
            "response topic",
            self.response_topic.as_deref(),
        )?;
        put_bin(
            s,
            CorrelationData,
            "correlation data",
            self.correlation_data.as_ref(),
        )?;
        put_user_properties(s, &self.user_properties)?;
        for id in &self.subscription_identifiers {
            put_subscription_id(s, *id)?;
        }
        put_str(s, ContentType, "content type", self.content_type.as_deref())
    }
}

impl EncodeProperties for AckProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_str(
            s,
            PropertyId::ReasonString,
            "reason string",
            self.reason_string.as_deref(),
        )?;
        put_user_properties(s, &self.user_properties)
    }
}

impl EncodeProperties for SubscribeProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        if let Some(id) = self.subscription_identifier {
            put_subscription_id(s, id)?;
        }
        put_user_properties(s, &self.user_properties)
    }
}

impl EncodeProperties for UnsubscribeProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        put_user_properties(s, &self.user_properties)
    }
}

impl EncodeProperties for DisconnectProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId::*;
        put_u32(s, SessionExpiryInterval, self.session_expiry_interval);
        put_str(
            s,
            ReasonString,
            "reason string",
            self.reason_string.as_deref(),
        )?;
        put_user_properties(s, &self.user_properties)?;
        put_str(
            s,
            ServerReference,
            "server reference",
            self.server_reference.as_deref(),
        )
    }
}

impl EncodeProperties for AuthProperties {
    fn emit<S: Sink>(&self, s: &mut S) -> Result<(), EncodeError> {
        use PropertyId::*;
        put_str(
            s,
            AuthenticationMethod,
            "authentication method",
            self.authentication_method.as_deref(),
        )?;
        put_bin(
            s,
            AuthenticationData,
            "authentication data",
            self.authentication_data.as_ref(),
        )?;
        put_str(
            s,
            ReasonString,
            "reason string",
            self.reason_string.as_deref(),
        )?;
        put_user_properties(s, &self.user_properties)
    }
}
