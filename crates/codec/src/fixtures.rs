//! Byte fixtures shared by the unit tests: packets captured from real clients
//! (mosquitto_pub / mosquitto_sub 2.0.11 against a recording socket on 127.0.0.1) and packets
//! hand-written from the spec's examples.

use bytes::BytesMut;

use crate::packet::ProtocolVersion;

/// Decodes a hex string (whitespace ignored) into a buffer.
pub(crate) fn hex(text: &str) -> BytesMut {
    let digits: Vec<u8> = text
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .map(|b| match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => panic!("not a hex digit: {}", b as char),
        })
        .collect();
    assert!(digits.len().is_multiple_of(2), "odd number of hex digits");
    digits
        .chunks(2)
        .map(|pair| pair[0] << 4 | pair[1])
        .collect()
}

/// `mosquitto_pub -V mqttv311 -i fixture-client -q 1 -t sensors/temp -m 21.5`: CONNECT.
pub(crate) const MOSQUITTO_V311_CONNECT: &str =
    "101a00044d5154540402003c000e666978747572652d636c69656e74";
/// Same run: PUBLISH QoS 1, packet id 1.
pub(crate) const MOSQUITTO_V311_PUBLISH_QOS1: &str = "3214000c73656e736f72732f74656d70000132312e35";
/// Same run: DISCONNECT.
pub(crate) const MOSQUITTO_DISCONNECT: &str = "e000";

/// `mosquitto_pub -V mqttv5 … -D connect session-expiry-interval 3600`: CONNECT with
/// session expiry 3600 and receive maximum 20.
pub(crate) const MOSQUITTO_V5_CONNECT: &str =
    "102300044d5154540502003c081100000e10210014000e666978747572652d636c69656e74";
/// Same run: PUBLISH QoS 1 with user property a=b, content type text/plain, expiry 60.
pub(crate) const MOSQUITTO_V5_PUBLISH: &str = "322e000c73656e736f72732f74656d700001192600016100016203000a746578742f706c61696e020000003c32312e35";

/// `mosquitto_pub -V mqttv311 -i will-client -u user -P secret --will-topic dev/status
/// --will-payload offline --will-qos 1 --will-retain -q 2 -r -t a/b -m hi`: CONNECT.
pub(crate) const MOSQUITTO_V311_CONNECT_WITH_WILL: &str = "103a00044d51545404ee003c000b77696c6c2d636c69656e74000a6465762f73746174757300076f66666c696e650004757365720006736563726574";
/// Same run: PUBLISH QoS 2, retained, packet id 1.
pub(crate) const MOSQUITTO_V311_PUBLISH_QOS2_RETAIN: &str = "35090003612f6200016869";
/// Same run: PUBREL for packet id 1.
pub(crate) const MOSQUITTO_V311_PUBREL: &str = "62020001";

/// `mosquitto_sub -V mqttv5 -i sub-client -E -t sensors/+/temp -t '$share/g/a/#' -q 1
/// -D subscribe subscription-identifier 7`: CONNECT.
pub(crate) const MOSQUITTO_V5_SUB_CONNECT: &str =
    "101a00044d5154540502003c03210014000a7375622d636c69656e74";
/// Same run: SUBSCRIBE with subscription identifier 7 and two filters.
pub(crate) const MOSQUITTO_V5_SUBSCRIBE: &str =
    "82250001020b07000e73656e736f72732f2b2f74656d7001000c2473686172652f672f612f2301";

/// `mosquitto_sub -V mqttv311 -i sub-client -E -t 'sensors/#' -q 2`: SUBSCRIBE.
pub(crate) const MOSQUITTO_V311_SUBSCRIBE: &str = "820e0001000973656e736f72732f2302";

/// `mosquitto_pub -V mqttv31 -i old-client -t t -m x`: CONNECT with protocol name MQIsdp.
pub(crate) const MOSQUITTO_V31_CONNECT: &str =
    "101800064d51497364700302003c000a6f6c642d636c69656e74";
/// Same run: PUBLISH QoS 0.
pub(crate) const MOSQUITTO_V31_PUBLISH: &str = "300400017478";

/// The MQTT 5 spec's CONNECT variable header example (§3.1.2.12: clean start, will QoS 1, will
/// retain, password, user name flags = 0xCE, keep alive 10, session expiry 10) completed with
/// a payload: client id "c", will properties none, will topic "w", payload "x", user "u",
/// password "p".
pub(crate) const SPEC_V5_CONNECT_EXAMPLE: &str =
    "102000044d51545405ce000a05110000000a00016300000177000178000175000170";

/// Every valid fixture with the version to decode it with.
pub(crate) fn valid_fixtures() -> Vec<(&'static str, ProtocolVersion)> {
    use ProtocolVersion::*;
    vec![
        (MOSQUITTO_V311_CONNECT, V3_1_1),
        (MOSQUITTO_V311_PUBLISH_QOS1, V3_1_1),
        (MOSQUITTO_DISCONNECT, V3_1_1),
        (MOSQUITTO_DISCONNECT, V5),
        (MOSQUITTO_V5_CONNECT, V5),
        (MOSQUITTO_V5_PUBLISH, V5),
        (MOSQUITTO_V311_CONNECT_WITH_WILL, V3_1_1),
        (MOSQUITTO_V311_PUBLISH_QOS2_RETAIN, V3_1_1),
        (MOSQUITTO_V311_PUBREL, V3_1_1),
        (MOSQUITTO_V5_SUB_CONNECT, V5),
        (MOSQUITTO_V5_SUBSCRIBE, V5),
        (MOSQUITTO_V311_SUBSCRIBE, V3_1_1),
        (MOSQUITTO_V31_CONNECT, V3_1),
        (MOSQUITTO_V31_PUBLISH, V3_1),
        (SPEC_V5_CONNECT_EXAMPLE, V5),
    ]
}
