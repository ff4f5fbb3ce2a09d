//! Arbitrary bytes through the decoder in every protocol version: it must never panic, and
//! whatever it accepts must re-encode to bytes that decode to the same packet.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use roost_codec::{Packet, ProtocolVersion, decode, decode_connect, encode};

const MAX_PACKET_SIZE: u32 = 1 << 20;

fn check_stable(packet: Packet, version: ProtocolVersion) {
    // A CONNECT is always encoded with the version it names.
    let version = match &packet {
        Packet::Connect(connect) => connect.protocol_version,
        _ => version,
    };
    let mut encoded = BytesMut::new();
    encode(&packet, version, &mut encoded).expect("a decoded packet is encodable");
    let again = decode(&mut encoded, version, u32::MAX)
        .expect("a re-encoded packet decodes")
        .expect("a re-encoded packet is whole");
    assert_eq!(
        again, packet,
        "decode -> encode -> decode changed the packet"
    );
    assert!(encoded.is_empty(), "re-encoding left extra bytes");
}

fuzz_target!(|data: &[u8]| {
    for version in [
        ProtocolVersion::V3_1,
        ProtocolVersion::V3_1_1,
        ProtocolVersion::V5,
    ] {
        let mut buf = BytesMut::from(data);
        while let Ok(Some(packet)) = decode(&mut buf, version, MAX_PACKET_SIZE) {
            check_stable(packet, version);
        }
    }
    let mut buf = BytesMut::from(data);
    if let Ok(Some(connect)) = decode_connect(&mut buf, MAX_PACKET_SIZE) {
        let version = connect.protocol_version;
        check_stable(Packet::Connect(Box::new(connect)), version);
        while let Ok(Some(packet)) = decode(&mut buf, version, MAX_PACKET_SIZE) {
            check_stable(packet, version);
        }
    }
});
