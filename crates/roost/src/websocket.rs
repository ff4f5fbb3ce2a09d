//! MQTT over WebSocket, as AWS IoT serves it: `GET /mqtt` (subprotocol `mqtt`), the upgrade
//! presigned with SigV4 for `iotdevicegateway` (checked by the control plane's
//! [`roost_api::require_websocket_signature`]), then the WebSocket's binary frames carried to
//! the broker's connection driver as a byte stream ([`WsStream`]).
//!
//! The principal is the access key that signed the upgrade, with full access; the connection
//! takes a place among `mqtt.max_connections` before the upgrade is answered and goes through
//! the broker's admission like any other. Once upgraded it is no longer the HTTP server's: no
//! header deadline and no HTTP connection slot, only MQTT keep-alive.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router, middleware};
use futures_util::{Sink, Stream};
use roost_api::error::{ApiError, ErrorKind};
use roost_api::{ApiState, WebSocketSigner};
use roost_broker::ConnectionGate;
use roost_broker::admission::PeerIdentity;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The MQTT subprotocol a client names in `Sec-WebSocket-Protocol` [MQTT-6.0.0-3].
const SUBPROTOCOL: &str = "mqtt";

/// What the `/mqtt` handler needs.
#[derive(Debug, Clone)]
struct MqttOverWebSocket {
    gate: ConnectionGate,
    /// Largest WebSocket message accepted: a client may put several MQTT packets in one.
    max_message_size: usize,
}

/// The `/mqtt` route, signature checked by `api`'s credentials, connections admitted through
/// `gate`. `max_packet_size` is the broker's MQTT packet limit.
pub(crate) fn router(api: ApiState, gate: ConnectionGate, max_packet_size: u32) -> Router {
    let state = MqttOverWebSocket {
        gate,
        max_message_size: (max_packet_size as usize).saturating_mul(4).max(64 * 1024),
    };
    Router::new()
        .route("/mqtt", get(upgrade))
        .route_layer(middleware::from_fn_with_state(
            api,
            roost_api::require_websocket_signature,
        ))
        // A refused upgrade carries a request id and is counted, like any API answer.
        .layer(middleware::from_fn(roost_api::request_context))
        .with_state(state)
}

/// Answers a signed upgrade with 101 and hands the WebSocket to the broker, or 503 when the
/// broker has no room for another connection.
async fn upgrade(
    State(mqtt): State<MqttOverWebSocket>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(signer): Extension<WebSocketSigner>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(slot) = mqtt.gate.reserve() else {
        tracing::info!(%peer, "MQTT over WebSocket refused: the broker is at its connection limit");
        return ApiError::new(
            ErrorKind::ServiceUnavailable,
            "The server is at its MQTT connection limit",
        )
        .into_response();
    };
    let identity = PeerIdentity::AccessKey(signer.access_key_id);
    upgrade
        .protocols([SUBPROTOCOL])
        .max_message_size(mqtt.max_message_size)
        .max_frame_size(mqtt.max_message_size)
        .on_failed_upgrade(move |error| tracing::debug!(%peer, %error, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| slot.serve(WsStream::new(socket), peer, identity))
}

/// A WebSocket as a byte stream: binary messages in, in order, whatever their boundaries (an
/// MQTT packet may span messages, or a message hold several); each write out as one binary
/// message. A text message is a protocol error [MQTT-6.0.0-1]; a close ends the stream.
/// Pings are answered by the WebSocket layer.
#[derive(Debug)]
pub(crate) struct WsStream<S> {
    socket: S,
    /// What is left of the last binary message read.
    pending: Bytes,
    /// A close was received (or the socket ended): reads return end of stream.
    closed: bool,
}

impl<S> WsStream<S> {
    pub(crate) fn new(socket: S) -> Self {
        Self {
            socket,
            pending: Bytes::new(),
            closed: false,
        }
    }
}

impl<S, E> AsyncRead for WsStream<S>
where
    S: Stream<Item = Result<Message, E>> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        while this.pending.is_empty() {
            if this.closed {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.socket).poll_next(cx)) {
                Some(Ok(Message::Binary(data))) => this.pending = data,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Text(_))) => {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "MQTT over WebSocket takes binary messages only",
                    )));
                }
                Some(Ok(Message::Close(_))) | None => this.closed = true,
                Some(Err(error)) => return Poll::Ready(Err(io::Error::other(error))),
            }
        }
        let n = this.pending.len().min(buf.remaining());
        buf.put_slice(&this.pending.split_to(n));
        Poll::Ready(Ok(()))
    }
}

impl<S, E> AsyncWrite for WsStream<S>
where
    S: Sink<Message, Error = E> + Unpin,
    E: std::error::Error + Send + Sync + 'static,
{
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let socket = Pin::new(&mut self.socket);
        ready!(Sink::poll_ready(socket, cx)).map_err(io::Error::other)?;
        Pin::new(&mut self.socket)
            .start_send(Message::Binary(Bytes::copy_from_slice(buf)))
            .map_err(io::Error::other)?;
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Sink::poll_flush(Pin::new(&mut self.socket), cx).map_err(io::Error::other)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Sink::poll_close(Pin::new(&mut self.socket), cx).map_err(io::Error::other)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use axum::extract::ws::Utf8Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("socket failed")]
    struct SocketError;

    /// A WebSocket in memory: the messages it will yield, and those written to it.
    #[derive(Default)]
    struct Socket {
        incoming: VecDeque<Message>,
        sent: Vec<Message>,
        closed: bool,
    }

    impl Stream for Socket {
        type Item = Result<Message, SocketError>;
        fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            Poll::Ready(self.incoming.pop_front().map(Ok))
        }
    }

    impl Sink<Message> for Socket {
        type Error = SocketError;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SocketError>> {
            Poll::Ready(if self.closed {
                Err(SocketError)
            } else {
                Ok(())
            })
        }
        fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), SocketError> {
            self.sent.push(item);
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SocketError>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Result<(), SocketError>> {
            self.closed = true;
            Poll::Ready(Ok(()))
        }
    }

    fn binary(bytes: &[u8]) -> Message {
        Message::Binary(Bytes::copy_from_slice(bytes))
    }

    fn reading(messages: Vec<Message>) -> WsStream<Socket> {
        WsStream::new(Socket {
            incoming: messages.into(),
            ..Socket::default()
        })
    }

    #[tokio::test]
    async fn a_packet_split_across_messages_reads_as_one_byte_stream() {
        // A PINGREQ (0xC0 0x00) in two messages, then a CONNACK-sized packet with a ping between.
        let mut stream = reading(vec![
            binary(&[0xC0]),
            binary(&[0x00]),
            Message::Ping(Bytes::from_static(b"p")),
            binary(&[0x20, 0x02, 0x00, 0x00]),
        ]);
        let mut read = Vec::new();
        stream.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, [0xC0, 0x00, 0x20, 0x02, 0x00, 0x00]);
    }

    #[tokio::test]
    async fn several_packets_in_one_message_are_read_in_pieces_of_any_size() {
        let mut stream = reading(vec![binary(&[0xC0, 0x00, 0xD0, 0x00, 0xE0, 0x00])]);
        let mut first = [0u8; 3];
        stream.read_exact(&mut first).await.unwrap();
        assert_eq!(first, [0xC0, 0x00, 0xD0]);
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, [0x00, 0xE0, 0x00]);
    }

    #[tokio::test]
    async fn a_close_ends_the_stream_even_with_messages_behind_it() {
        let mut stream = reading(vec![binary(&[1]), Message::Close(None), binary(&[2])]);
        let mut read = Vec::new();
        stream.read_to_end(&mut read).await.unwrap();
        assert_eq!(read, [1]);
    }

    #[tokio::test]
    async fn a_text_message_is_a_protocol_error() {
        let mut stream = reading(vec![Message::Text(Utf8Bytes::from_static("hi"))]);
        let error = stream.read_to_end(&mut Vec::new()).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    #[tokio::test]
    async fn each_write_is_one_binary_message_and_shutdown_closes_the_socket() {
        let mut stream = WsStream::new(Socket::default());
        stream.write_all(&[0x20, 0x02, 0x00, 0x00]).await.unwrap();
        stream.write_all(&[0xD0, 0x00]).await.unwrap();
        stream.flush().await.unwrap();
        stream.shutdown().await.unwrap();
        assert!(stream.socket.closed);
        let sent: Vec<Vec<u8>> = stream
            .socket
            .sent
            .iter()
            .map(|m| match m {
                Message::Binary(b) => b.to_vec(),
                other => panic!("not binary: {other:?}"),
            })
            .collect();
        assert_eq!(sent, [vec![0x20, 0x02, 0x00, 0x00], vec![0xD0, 0x00]]);
        assert!(
            stream.write_all(&[0]).await.is_err(),
            "closed sockets refuse writes"
        );
    }
}
