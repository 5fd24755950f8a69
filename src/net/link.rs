//! TCP ring links: length-prefixed frames (a 4-byte big-endian length, then a frame in the
//! same codec as datagrams). Each link is a reader task and a writer task; they report to the
//! network task over one channel, tagged with a connection number so a stale connection's
//! news is never taken for a newer one's.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use crate::proto::wire::{self, Datagram, MAX_LINK_FRAME};
use crate::proto::{LinkEnd, NodeId};

/// Frames queued for one link; a peer that does not keep up loses its link.
pub const LINK_QUEUE: usize = 1024;
const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
/// A new connection must name itself this soon.
const HELLO_TIMEOUT: Duration = Duration::from_secs(2);

pub type ConnId = u64;

#[derive(Debug)]
pub enum LinkEvent {
    Up {
        conn: ConnId,
        peer: NodeId,
        tx: mpsc::Sender<LinkCmd>,
    },
    /// A frame; empty if the peer sent a length over the limit (a bad frame).
    Frame {
        conn: ConnId,
        peer: NodeId,
        bytes: Vec<u8>,
    },
    Ended {
        conn: ConnId,
        peer: NodeId,
    },
    DialFailed {
        peer: NodeId,
        end: LinkEnd,
    },
}

#[derive(Debug)]
pub enum LinkCmd {
    Send(Vec<u8>),
    Close,
}

async fn write_frame(w: &mut OwnedWriteHalf, bytes: &[u8]) -> io::Result<()> {
    w.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
    w.write_all(bytes).await
}

/// Reads one frame; `Ok(None)` at a clean end of stream; an empty frame if it is too long.
async fn read_frame(r: &mut OwnedReadHalf) -> io::Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_LINK_FRAME {
        return Ok(Some(Vec::new()));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf).await?;
    Ok(Some(buf))
}

/// The sender named in a hello frame.
fn hello_sender(bytes: &[u8]) -> Option<NodeId> {
    match wire::decode(bytes) {
        Ok(Datagram::Frame(f)) if f.body == wire::Body::Hello => Some(f.sender),
        _ => None,
    }
}

/// Runs a connection: says hello, learns who is at the other end (it must be `expect`, if
/// given), reports it up, then pumps frames both ways until either side ends it.
pub async fn run(
    stream: TcpStream,
    conn: ConnId,
    hello: Vec<u8>,
    expect: Option<NodeId>,
    events: mpsc::Sender<LinkEvent>,
) {
    let _ = stream.set_nodelay(true);
    let (mut r, mut w) = stream.into_split();
    if write_frame(&mut w, &hello).await.is_err() {
        if let Some(peer) = expect {
            let _ = events.send(LinkEvent::DialFailed { peer, end: LinkEnd::Unreachable }).await;
        }
        return;
    }
    let first = tokio::time::timeout(HELLO_TIMEOUT, read_frame(&mut r)).await;
    let peer = match first {
        Ok(Ok(Some(bytes))) => hello_sender(&bytes),
        _ => None,
    };
    let peer = match (peer, expect) {
        (Some(p), Some(e)) if p == e => p,
        (Some(p), None) => p,
        (Some(_), Some(e)) => {
            // Someone else answers at that address now: the peer we wanted is gone.
            let _ = events.send(LinkEvent::DialFailed { peer: e, end: LinkEnd::Refused }).await;
            return;
        }
        (None, Some(e)) => {
            // The kernel accepted, but nobody said hello: hung, not proven dead.
            let _ = events.send(LinkEvent::DialFailed { peer: e, end: LinkEnd::Unreachable }).await;
            return;
        }
        (None, None) => return,
    };
    let (tx, mut rx) = mpsc::channel::<LinkCmd>(LINK_QUEUE);
    if events.send(LinkEvent::Up { conn, peer, tx }).await.is_err() {
        return;
    }
    let writer = tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            match cmd {
                LinkCmd::Send(bytes) => {
                    if write_frame(&mut w, &bytes).await.is_err() {
                        break;
                    }
                }
                LinkCmd::Close => break,
            }
        }
        let _ = w.shutdown().await;
    });
    while let Ok(Some(bytes)) = read_frame(&mut r).await {
        let bad = bytes.is_empty();
        if events.send(LinkEvent::Frame { conn, peer, bytes }).await.is_err() || bad {
            break;
        }
    }
    let _ = events.send(LinkEvent::Ended { conn, peer }).await;
    writer.abort();
}

/// Dials `peer` at `addr`, then runs the connection.
pub async fn dial(peer: NodeId, addr: SocketAddr, conn: ConnId, hello: Vec<u8>, events: mpsc::Sender<LinkEvent>) {
    match tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => run(stream, conn, hello, Some(peer), events).await,
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            let _ = events.send(LinkEvent::DialFailed { peer, end: LinkEnd::Refused }).await;
        }
        _ => {
            let _ = events.send(LinkEvent::DialFailed { peer, end: LinkEnd::Unreachable }).await;
        }
    }
}
