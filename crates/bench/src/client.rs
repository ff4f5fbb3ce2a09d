//! A lean MQTT client over any byte stream, built on `roost-codec`: framing in both directions,
//! the CONNECT/CONNACK and SUBSCRIBE/SUBACK exchanges, and stamped PUBLISH encoding that writes
//! the header, the stamp and the filler straight into the output buffer without allocating.
//!
//! A [`Session`] is split into a [`PacketReader`] and a [`PacketWriter`] so that a publisher can
//! write while another task reads its acknowledgements.

use std::num::NonZeroU16;
use std::time::Duration;

use bytes::BytesMut;
use roost_codec::{
    Connect, ConnectProperties, Disconnect, Packet, PacketId, ProtocolVersion, Publish, QoS,
    ReasonCode, Subscribe, SubscribeProperties, Subscription, SubscriptionOptions, TopicFilter,
    decode, encode, encode_publish_header,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadHalf, WriteHalf};

use crate::error::BenchError;
use crate::payload::{STAMP_LEN, Stamp};
use crate::transport::Stream;

/// Largest packet accepted from the broker: the largest payload plus room for headers.
const MAX_INCOMING_PACKET: u32 = 256 * 1024;
/// Read buffer growth step.
const READ_CHUNK: usize = 16 * 1024;

/// How clients connect.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// MQTT version (3.1.1 by default: every peer speaks it, nats-server speaks nothing newer).
    pub version: ProtocolVersion,
    /// Keep alive in seconds announced in CONNECT.
    pub keep_alive: u16,
    /// Longest wait for CONNACK (and for SUBACK).
    pub timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            version: ProtocolVersion::V3_1_1,
            keep_alive: 300,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Reads whole packets from a stream.
#[derive(Debug)]
pub struct PacketReader<R> {
    io: R,
    buf: BytesMut,
    version: ProtocolVersion,
}

impl<R: AsyncRead + Unpin> PacketReader<R> {
    /// A reader of `version` packets from `io`.
    pub fn new(io: R, version: ProtocolVersion) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
            version,
        }
    }

    /// The next packet already buffered, without reading.
    pub fn try_next(&mut self) -> Result<Option<Packet>, BenchError> {
        Ok(decode(&mut self.buf, self.version, MAX_INCOMING_PACKET)?)
    }

    /// Reads more bytes into the buffer; [`BenchError::Closed`] at end of stream. Cancel-safe.
    pub async fn fill(&mut self) -> Result<(), BenchError> {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
        match self.io.read_buf(&mut self.buf).await? {
            0 => Err(BenchError::Closed),
            _ => Ok(()),
        }
    }

    /// The next packet, reading as needed.
    pub async fn next(&mut self) -> Result<Packet, BenchError> {
        loop {
            if let Some(packet) = self.try_next()? {
                return Ok(packet);
            }
            self.fill().await?;
        }
    }
}

/// Buffers encoded packets and writes them in one go.
#[derive(Debug)]
pub struct PacketWriter<W> {
    io: W,
    buf: BytesMut,
    version: ProtocolVersion,
}

impl<W: AsyncWrite + Unpin> PacketWriter<W> {
    /// A writer of `version` packets to `io`.
    pub fn new(io: W, version: ProtocolVersion) -> Self {
        Self {
            io,
            buf: BytesMut::with_capacity(READ_CHUNK),
            version,
        }
    }

    /// Encodes `packet` into the buffer.
    pub fn queue(&mut self, packet: &Packet) -> Result<(), BenchError> {
        Ok(encode(packet, self.version, &mut self.buf)?)
    }

    /// Encodes `publish` with `stamp` over the first [`STAMP_LEN`] bytes of its payload (which
    /// must be at least that long: see [`crate::payload::filler`]).
    pub fn queue_stamped(&mut self, publish: &Publish, stamp: &Stamp) -> Result<(), BenchError> {
        encode_publish_header(publish, self.version, &mut self.buf)?;
        stamp.write(&mut self.buf);
        self.buf
            .extend_from_slice(publish.payload.get(STAMP_LEN..).unwrap_or_default());
        Ok(())
    }

    /// Bytes waiting to be written.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    /// Writes everything buffered.
    pub async fn flush(&mut self) -> Result<(), BenchError> {
        if !self.buf.is_empty() {
            self.io.write_all(&self.buf).await?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Sends DISCONNECT and closes the stream (TLS close_notify, then FIN); errors are ignored,
    /// the connection is over either way.
    pub async fn disconnect(&mut self) {
        if self
            .queue(&Packet::Disconnect(Disconnect::default()))
            .is_ok()
        {
            let _ = self.flush().await;
        }
        let _ = self.io.shutdown().await;
    }
}

/// An established MQTT connection.
#[derive(Debug)]
pub struct Session {
    /// The incoming half.
    pub reader: PacketReader<ReadHalf<Stream>>,
    /// The outgoing half.
    pub writer: PacketWriter<WriteHalf<Stream>>,
}

/// The CONNECT a bench client sends: clean session, no will, no credentials.
pub fn connect_packet(client_id: &str, options: &ConnectOptions) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol_version: options.version,
        clean_start: true,
        keep_alive: options.keep_alive,
        client_id: client_id.to_owned(),
        will: None,
        username: None,
        password: None,
        properties: ConnectProperties::default(),
    }))
}

impl Session {
    /// Sends CONNECT on `stream` and waits for a successful CONNACK.
    pub async fn open(
        stream: Stream,
        client_id: &str,
        options: &ConnectOptions,
    ) -> Result<Session, BenchError> {
        let (read, write) = tokio::io::split(stream);
        let mut session = Session {
            reader: PacketReader::new(read, options.version),
            writer: PacketWriter::new(write, options.version),
        };
        session.writer.queue(&connect_packet(client_id, options))?;
        session.writer.flush().await?;
        let reply = tokio::time::timeout(options.timeout, session.reader.next())
            .await
            .map_err(|_| BenchError::Timeout("CONNACK"))??;
        match reply {
            Packet::ConnAck(ack) if ack.reason_code == ReasonCode::Success => Ok(session),
            Packet::ConnAck(ack) => Err(BenchError::Refused {
                code: ack.reason_code,
            }),
            other => Err(BenchError::Unexpected {
                expected: "CONNACK",
                got: other.packet_type(),
            }),
        }
    }

    /// Subscribes to every filter of `filters` at `qos` in one SUBSCRIBE and waits for a
    /// SUBACK that grants them all.
    pub async fn subscribe(
        &mut self,
        filters: &[String],
        qos: QoS,
        timeout: Duration,
    ) -> Result<(), BenchError> {
        let subscribe = Subscribe {
            packet_id: PacketId(NonZeroU16::MIN),
            subscriptions: filters
                .iter()
                .map(|filter| {
                    Ok(Subscription {
                        filter: TopicFilter::new(filter)?,
                        options: SubscriptionOptions {
                            qos,
                            ..SubscriptionOptions::default()
                        },
                    })
                })
                .collect::<Result<_, BenchError>>()?,
            properties: SubscribeProperties::default(),
        };
        self.writer.queue(&Packet::Subscribe(subscribe))?;
        self.writer.flush().await?;
        let reply = tokio::time::timeout(timeout, self.reader.next())
            .await
            .map_err(|_| BenchError::Timeout("SUBACK"))??;
        let Packet::SubAck(ack) = reply else {
            return Err(BenchError::Unexpected {
                expected: "SUBACK",
                got: reply.packet_type(),
            });
        };
        for (j, filter) in filters.iter().enumerate() {
            match ack.reason_codes.get(j) {
                Some(code) if !code.is_error() => {}
                code => {
                    return Err(BenchError::SubscribeRefused {
                        filter: filter.clone(),
                        code: code.copied().unwrap_or(ReasonCode::UnspecifiedError),
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::filler;
    use roost_codec::{PublishProperties, PublishQos, TopicName};

    #[tokio::test]
    async fn a_stamped_publish_decodes_with_its_stamp_and_full_length() {
        let (client, server) = tokio::io::duplex(4096);
        let mut writer = PacketWriter::new(client, ProtocolVersion::V3_1_1);
        let publish = Publish {
            dup: false,
            qos: PublishQos::AtLeastOnce(PacketId::new(7).expect("non-zero")),
            retain: false,
            topic: TopicName::new("bench/0").expect("topic"),
            properties: PublishProperties::default(),
            payload: filler(64).expect("payload"),
        };
        let stamp = Stamp {
            publisher: 3,
            sequence: 41,
            sent_at_nanos: 99,
        };
        writer.queue_stamped(&publish, &stamp).expect("encode");
        writer.flush().await.expect("flush");

        let mut reader = PacketReader::new(server, ProtocolVersion::V3_1_1);
        match reader.next().await.expect("a packet") {
            Packet::Publish(got) => {
                assert_eq!(got.payload.len(), 64);
                assert_eq!(Stamp::read(&got.payload).ok(), Some(stamp));
                assert_eq!(got.qos, publish.qos);
                assert_eq!(got.topic.as_str(), "bench/0");
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_end_of_the_stream_reads_as_closed() {
        let (client, server) = tokio::io::duplex(64);
        drop(client);
        let mut reader = PacketReader::new(server, ProtocolVersion::V3_1_1);
        assert!(matches!(reader.next().await, Err(BenchError::Closed)));
    }
}
