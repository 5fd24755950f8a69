//! TCP ring links: length-prefixed frames (`tokio_util`'s `LengthDelimitedCodec`: a 4-byte
//! big-endian length, then a frame in the same codec as datagrams). Each link is one task that
//! reads and writes; it reports to the network task over one channel, tagged with a connection
//! number so a stale connection's news is never taken for a newer one's.
//!
//! The port is open to anyone on the LAN, so what a stranger can hold is bounded: until a
//! connection has said hello, its frames may be a few hundred bytes at most and it must say it
//! within `HELLO_TIMEOUT`; how many such connections there are, in all and per address, is
//! capped by the caller (`Gate`). After hello, a link carries frames up to the repair size, and
//! only the node's ring neighbours keep one (the network task closes the rest, fully).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

use crate::proto::seal::TAG_LEN;
use crate::proto::wire::{self, Datagram, MAX_LINK_FRAME};
use crate::proto::{GroupKey, LinkEnd, NodeId};

/// Frames queued for one link; a peer that does not keep up loses its link.
pub(super) const LINK_QUEUE: usize = 1024;
/// Bytes queued for one link at most (a peer that reads nothing cannot make us hold more).
pub(super) const LINK_BYTES: usize = 8 << 20;
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// A new connection must name itself this soon.
pub(super) const HELLO_TIMEOUT: Duration = Duration::from_secs(2);
/// A frame must be taken by the peer's kernel this soon (its receive window open): a peer that
/// reads nothing cannot hold this task, its socket and what is queued past the link's end.
pub(super) const WRITE_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest frame before hello: a hello is a header and a seal.
pub const MAX_HELLO: usize = 256;
/// Connections that have not said hello yet, at most, in all and from one address.
pub(super) const MAX_UNNAMED: usize = 64;
/// Connections from one address that have not said hello yet, at most.
pub(super) const MAX_UNNAMED_PER_ADDR: usize = 4;

/// The number the network task gives each connection.
pub(super) type ConnId = u64;

/// What a link task tells the network task.
#[derive(Debug)]
pub(super) enum LinkEvent {
    /// The connection said hello as `peer`; `tx` sends on it.
    Up {
        /// The connection.
        conn: ConnId,
        /// The node it named.
        peer: NodeId,
        /// Where the connection comes from.
        addr: SocketAddr,
        /// Sends on the connection.
        tx: LinkTx,
    },
    /// A frame; empty if the peer broke the framing (a frame over the limit).
    Frame {
        /// The connection.
        conn: ConnId,
        /// The node it named.
        peer: NodeId,
        /// The frame as received.
        bytes: Vec<u8>,
    },
    /// The connection ended.
    Ended {
        /// The connection.
        conn: ConnId,
        /// The node it named.
        peer: NodeId,
    },
    /// A connection to our ring port ended before it said hello.
    Unnamed,
    /// A dial to `peer` failed.
    DialFailed {
        /// The node dialled.
        peer: NodeId,
        /// Refused or unreachable.
        end: LinkEnd,
    },
}

/// What the network task tells a link task.
#[derive(Debug)]
pub(super) enum LinkCmd {
    /// Send this frame.
    Send(Vec<u8>),
    /// Send what is queued, then close the connection (both ways).
    Close,
}

/// The sending side of a link, for the network task: frames and bytes queued are both capped.
#[derive(Clone, Debug)]
pub(super) struct LinkTx {
    tx: mpsc::Sender<LinkCmd>,
    queued: Arc<AtomicUsize>,
}

impl LinkTx {
    /// Queues a frame; false if the link is over its frame or byte budget (or gone), so the
    /// peer cannot keep up and should lose the link.
    pub(super) fn send(&self, bytes: Vec<u8>) -> bool {
        let len = bytes.len();
        if self.queued.load(Ordering::Relaxed) + len > LINK_BYTES {
            return false;
        }
        self.queued.fetch_add(len, Ordering::Relaxed);
        if self.tx.try_send(LinkCmd::Send(bytes)).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Asks the link task to send what is queued and close.
    pub(super) fn close(&self) {
        let _ = self.tx.try_send(LinkCmd::Close);
    }

    /// Resolves once the link task has ended (after a `close`, once what was queued is sent).
    pub(super) async fn closed(&self) {
        self.tx.closed().await;
    }
}

/// Counts the connections that have not said hello, in all and per address. A connection
/// takes a `Pass` when accepted and gives it back when it names itself or ends.
#[derive(Clone, Default)]
pub(super) struct Gate {
    inner: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// A place among the unnamed connections, given back on drop.
pub(super) struct Pass {
    gate: Gate,
    ip: IpAddr,
}

impl Gate {
    /// A place for a connection from `ip`, if the caps allow one.
    pub(super) fn enter(&self, ip: IpAddr) -> Option<Pass> {
        let mut m = self.inner.lock().expect("gate lock");
        let total: usize = m.values().sum();
        let here = m.entry(ip).or_default();
        if total >= MAX_UNNAMED || *here >= MAX_UNNAMED_PER_ADDR {
            return None;
        }
        *here += 1;
        Some(Pass { gate: self.clone(), ip })
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let mut m = self.gate.inner.lock().expect("gate lock");
        if let Some(n) = m.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

fn codec(max: usize) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().length_field_length(4).max_frame_length(max).new_codec()
}

/// The sender named in a hello frame (opened with the group key in a keyed group).
fn hello_sender(bytes: &[u8], key: Option<&GroupKey>) -> Option<NodeId> {
    let opened = match key {
        Some(k) => k.open(bytes).ok()?,
        None => bytes.to_vec(),
    };
    match wire::decode(&opened) {
        Ok(Datagram::Frame(f)) if f.body == wire::Body::Hello => Some(f.sender),
        _ => None,
    }
}

/// How a connection is to be run.
pub(super) struct Conn {
    /// The network task's number for it.
    pub id: ConnId,
    /// Our hello, sent first.
    pub hello: Vec<u8>,
    /// The peer we dialled (`None` for an accepted connection).
    pub expect: Option<NodeId>,
    /// The group key, to check the peer's hello.
    pub key: Option<GroupKey>,
    /// For an accepted connection: its place among the unnamed ones, until it says hello.
    pub pass: Option<Pass>,
}

/// A dial that connected but was closed (reset, or an end of stream) before the far end said
/// hello is made once more after this: a process killed just as we dial leaves its listener for
/// a moment, the kernel takes the connection into its backlog and resets it as the listener
/// closes. The second dial is refused if the process is gone; a live one that turns strangers
/// away is not taken for dead (the second ends the same way, and is reported unreachable).
const REDIAL_AFTER: Duration = Duration::from_millis(50);

/// How a connection's start went, for a dial that may be made again.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Start {
    /// Run to its end (or failed, and reported).
    Done,
    /// A dial closed by the far end before it said hello; nothing reported yet.
    ClosedBeforeHello,
}

/// Whether an error means the far end closed the connection (rather than not answering).
fn closed(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe)
}

/// Runs a connection: says hello, learns who is at the other end (it must be `expect`, if
/// given), reports it up, then pumps frames both ways until either side ends it. With `retry`,
/// a dial closed before hello is left for the caller to make again.
pub(super) async fn run(stream: TcpStream, conn: Conn, events: mpsc::Sender<LinkEvent>, retry: bool) -> Start {
    let c = conn;
    let _ = stream.set_nodelay(true);
    let stream_addr = stream.peer_addr();
    let (read_half, write_half) = stream.into_split();
    let mut reader = FramedRead::new(read_half, codec(MAX_HELLO + TAG_LEN));
    let mut writer = FramedWrite::new(write_half, codec(MAX_LINK_FRAME + TAG_LEN));
    let fail = |end| {
        let events = events.clone();
        async move {
            if let Some(peer) = c.expect {
                let _ = events.send(LinkEvent::DialFailed { peer, end }).await;
            }
        }
    };
    let hello = tokio::time::timeout(WRITE_TIMEOUT, writer.send(Bytes::from(c.hello))).await;
    let retry = retry && c.expect.is_some();
    if retry && matches!(&hello, Ok(Err(e)) if closed(e)) {
        return Start::ClosedBeforeHello;
    }
    let (Ok(Ok(())), Ok(addr)) = (hello, stream_addr) else {
        fail(LinkEnd::Unreachable).await;
        return Start::Done;
    };
    let first = tokio::time::timeout(HELLO_TIMEOUT, reader.next()).await;
    let named = match first {
        Ok(Some(Ok(bytes))) => hello_sender(&bytes, c.key.as_ref()),
        Ok(None) if retry => return Start::ClosedBeforeHello,
        Ok(Some(Err(e))) if retry && closed(&e) => return Start::ClosedBeforeHello,
        _ => None,
    };
    let peer = match (named, c.expect) {
        (Some(named), Some(wanted)) if named == wanted => named,
        (Some(named), None) => named,
        // Someone else answers at that address now: the peer we wanted is gone.
        (Some(_), Some(_)) => {
            fail(LinkEnd::Refused).await;
            return Start::Done;
        }
        // The kernel accepted, but nobody said hello: hung, not proven dead.
        (None, Some(_)) => {
            fail(LinkEnd::Unreachable).await;
            return Start::Done;
        }
        (None, None) => {
            let _ = events.send(LinkEvent::Unnamed).await;
            return Start::Done;
        }
    };
    drop(c.pass);
    reader.decoder_mut().set_max_frame_length(MAX_LINK_FRAME + TAG_LEN);
    let (tx, mut rx) = mpsc::channel::<LinkCmd>(LINK_QUEUE);
    let queued = Arc::new(AtomicUsize::new(0));
    let tx = LinkTx { tx, queued: queued.clone() };
    if events.send(LinkEvent::Up { conn: c.id, peer, addr, tx }).await.is_err() {
        return Start::Done;
    }
    let conn = c.id;
    loop {
        tokio::select! {
            cmd = rx.recv() => match cmd {
                Some(LinkCmd::Send(bytes)) => {
                    let len = bytes.len();
                    let sent = tokio::time::timeout(WRITE_TIMEOUT, writer.send(Bytes::from(bytes))).await;
                    queued.fetch_sub(len, Ordering::Relaxed);
                    if !matches!(sent, Ok(Ok(()))) {
                        break;
                    }
                }
                // Closed by the network task (or it went away): the socket closes both ways
                // when this task ends, what is queued sent first if the peer takes it in time.
                Some(LinkCmd::Close) | None => {
                    let _ = tokio::time::timeout(WRITE_TIMEOUT, SinkExt::<Bytes>::close(&mut writer)).await;
                    return Start::Done;
                }
            },
            frame = reader.next() => match frame {
                Some(Ok(bytes)) => {
                    if events.send(LinkEvent::Frame { conn, peer, bytes: bytes.to_vec() }).await.is_err() {
                        return Start::Done;
                    }
                }
                Some(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                    // Over the size limit: a bad frame, which costs the peer its link.
                    let _ = events.send(LinkEvent::Frame { conn, peer, bytes: Vec::new() }).await;
                    break;
                }
                _ => break,
            },
        }
    }
    let _ = events.send(LinkEvent::Ended { conn, peer }).await;
    Start::Done
}

/// Dials `peer` at `addr`, then runs the connection (dialling once more if it is closed
/// before hello, see `REDIAL_AFTER`).
pub(super) async fn dial(addr: SocketAddr, c: Conn, events: mpsc::Sender<LinkEvent>) {
    let peer = c.expect.expect("a dial names its peer");
    for retry in [true, false] {
        let end = match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => {
                let again = Conn { hello: c.hello.clone(), key: c.key.clone(), pass: None, ..c };
                match run(stream, again, events.clone(), retry).await {
                    Start::Done => return,
                    Start::ClosedBeforeHello => {
                        tokio::time::sleep(REDIAL_AFTER).await;
                        continue;
                    }
                }
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => LinkEnd::Refused,
            _ => LinkEnd::Unreachable,
        };
        let _ = events.send(LinkEvent::DialFailed { peer, end }).await;
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::{Body, Frame, encode_link};
    use crate::proto::{Hlc, Incarnation, Seq};
    use std::io::Write as _;

    fn hello(id: u64) -> Vec<u8> {
        let f = Frame { sender: NodeId(id), incarnation: Incarnation(1), seq: Seq(1), hlc: Hlc(1), body: Body::Hello };
        encode_link(&f).expect("a hello fits")
    }

    /// A peer that says hello and then reads nothing (its receive window shut) cannot keep the
    /// link task, its socket and what was queued for it alive after the link is closed.
    #[tokio::test]
    async fn a_peer_that_reads_nothing_cannot_hold_the_link_task() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let at = listener.local_addr().unwrap();
        assert!(at.ip().is_loopback(), "loopback only");
        // The peer, on a thread of its own (not joined: it holds its socket past the test).
        std::thread::spawn(move || {
            let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            sock.set_recv_buffer_size(1024).unwrap();
            sock.connect(&at.into()).unwrap();
            let mut s: std::net::TcpStream = sock.into();
            let frame = hello(2);
            s.write_all(&(frame.len() as u32).to_be_bytes()).unwrap();
            s.write_all(&frame).unwrap();
            // Held open, never read, until the test is done with it.
            std::thread::sleep(Duration::from_secs(30));
            drop(s);
        });
        let (stream, _) = listener.accept().await.unwrap();
        socket2::SockRef::from(&stream).set_send_buffer_size(4096).unwrap();
        let (events, mut rx) = mpsc::channel(16);
        let conn = Conn { id: 1, hello: hello(1), expect: None, key: None, pass: None };
        let task = tokio::spawn(run(stream, conn, events, false));
        let Some(LinkEvent::Up { peer, addr, tx, .. }) = rx.recv().await else { panic!("no hello") };
        assert_eq!((peer, addr.ip()), (NodeId(2), at.ip()));
        // More than the kernel's buffers hold, then the close the network task sends.
        let mut queued = 0;
        while queued < 4 << 20 && tx.send(vec![0; 256 << 10]) {
            queued += 256 << 10;
        }
        tx.close();
        let ended = tokio::time::timeout(Duration::from_secs(15), task).await;
        assert!(ended.is_ok(), "the link task outlived its link");
    }
}
