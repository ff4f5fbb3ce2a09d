//! The packet codec: decoding and encoding the packets of the hot path.

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use roost_codec::{
    Connect, ConnectProperties, Packet, PacketId, ProtocolVersion, Publish, PublishProperties,
    PublishQos, TopicName, decode, decode_connect, encode, encode_publish_header,
};
use std::hint::black_box;

const MAX: u32 = 256 * 1024;

fn publish(payload: usize, qos1: bool) -> Publish {
    Publish {
        dup: false,
        qos: match PacketId::new(42) {
            Some(id) if qos1 => PublishQos::AtLeastOnce(id),
            _ => PublishQos::AtMostOnce,
        },
        retain: false,
        topic: TopicName::new("dt/fleet-7/device-00042/telemetry").expect("topic"),
        properties: PublishProperties::default(),
        payload: Bytes::from(vec![b'x'; payload]),
    }
}

fn encoded(packet: &Packet, version: ProtocolVersion) -> Bytes {
    let mut buf = BytesMut::new();
    encode(packet, version, &mut buf).expect("encodes");
    buf.freeze()
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Elements(1));
    for (name, version) in [
        ("v3.1.1", ProtocolVersion::V3_1_1),
        ("v5", ProtocolVersion::V5),
    ] {
        for size in [64, 1024] {
            let packet = Packet::Publish(publish(size, true));
            let wire = encoded(&packet, version);
            group.bench_function(format!("decode publish qos1 {size} B {name}"), |b| {
                b.iter_batched(
                    || BytesMut::from(&wire[..]),
                    |mut buf| black_box(decode(&mut buf, version, MAX)),
                    BatchSize::SmallInput,
                )
            });
            let mut out = BytesMut::with_capacity(4096);
            group.bench_function(format!("encode publish qos1 {size} B {name}"), |b| {
                b.iter(|| {
                    out.clear();
                    encode(black_box(&packet), version, &mut out).expect("encodes");
                })
            });
        }
        let fanout = publish(1024, false);
        let mut out = BytesMut::with_capacity(256);
        group.bench_function(format!("encode publish header for fan-out {name}"), |b| {
            b.iter(|| {
                out.clear();
                encode_publish_header(black_box(&fanout), version, &mut out).expect("encodes");
            })
        });
        let connect = Packet::Connect(Box::new(Connect {
            protocol_version: version,
            clean_start: true,
            keep_alive: 60,
            client_id: "device-00042".into(),
            will: None,
            username: None,
            password: None,
            properties: ConnectProperties::default(),
        }));
        let wire = encoded(&connect, version);
        group.bench_function(format!("decode connect {name}"), |b| {
            b.iter_batched(
                || BytesMut::from(&wire[..]),
                |mut buf| black_box(decode_connect(&mut buf, MAX)),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
