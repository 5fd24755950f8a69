//! Datagrams taken from the group's socket several at a time.
//!
//! On Linux one `recvmmsg` takes everything waiting, up to a batch. When it brings back fewer
//! than it had room for, the socket was empty: its readiness is cleared there and then, so a
//! lone datagram costs one system call, not a second one only to hear `EAGAIN` (a read that
//! found nothing, on the way to printing every message). Elsewhere, `recv_from` until the
//! socket is empty.

use std::io;
use std::net::SocketAddr;

use tokio::io::Interest;
use tokio::net::UdpSocket;

/// Datagrams taken per system call at most. With `MAX_BUNDLED` messages in each and two
/// events per message this stays under the room the network task keeps in the front end's
/// queue before it reads more (half of `EVENT_QUEUE`).
pub(super) const BATCH: usize = 8;
/// Room for one datagram: the largest UDP payload, so nothing is ever cut short.
const DATAGRAM: usize = 65_536;

/// Buffers for one batch and what the last read put in them.
pub(super) struct Batch {
    bufs: Vec<Box<[u8]>>,
    /// Which buffer, how many bytes, from where.
    got: Vec<(usize, usize, SocketAddr)>,
}

impl Default for Batch {
    fn default() -> Self {
        // Zeroed allocations of this size are mapped lazily: only pages a datagram was written
        // to become resident.
        Batch { bufs: (0..BATCH).map(|_| vec![0u8; DATAGRAM].into_boxed_slice()).collect(), got: Vec::new() }
    }
}

/// What one read found.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Took {
    /// Some datagrams, and the socket is empty now (its readiness cleared).
    Drained,
    /// A whole batch: there may be more.
    More,
    /// Nothing was waiting.
    Nothing,
}

impl Batch {
    /// Takes the datagrams waiting on `sock`, up to a batch, without waiting.
    #[cfg(target_os = "linux")]
    pub(super) fn read(&mut self, sock: &UdpSocket) -> io::Result<Took> {
        self.got.clear();
        let mut drained = false;
        let r = sock.try_io(Interest::READABLE, || {
            if self.fill(sock)? < BATCH {
                // A short batch emptied the socket: telling tokio "would block" clears its
                // readiness (only as of the read: a datagram that arrives later is announced anew).
                drained = true;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            Ok(())
        });
        match r {
            Ok(()) => Ok(Took::More),
            Err(_) if drained => Ok(Took::Drained),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Took::Nothing),
            Err(e) => Err(e),
        }
    }

    /// The datagrams of the last read, in the order they arrived.
    pub(super) fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.got.iter().map(|&(i, n, from)| (&self.bufs[i][..n], from))
    }

    /// One `recvmmsg`: how many datagrams it took.
    #[cfg(target_os = "linux")]
    fn fill(&mut self, sock: &UdpSocket) -> io::Result<usize> {
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;

        use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};

        let mut headers = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
        let mut bufs = self.bufs.iter_mut();
        let mut slices: [[IoSliceMut<'_>; 1]; BATCH] =
            std::array::from_fn(|_| [IoSliceMut::new(bufs.next().expect("BATCH buffers"))]);
        let taken = recvmmsg(sock.as_raw_fd(), &mut headers, slices.iter_mut(), MsgFlags::MSG_DONTWAIT, None)
            .map_err(io::Error::from)?;
        let mut count = 0;
        for (i, m) in taken.enumerate() {
            count += 1;
            let from = m.address.and_then(|a| {
                a.as_sockaddr_in()
                    .map(|v4| SocketAddr::from(*v4))
                    .or_else(|| a.as_sockaddr_in6().map(|v6| SocketAddr::from(*v6)))
            });
            // A datagram without an IP source cannot come from the group's socket; skipped.
            if let Some(from) = from {
                self.got.push((i, m.bytes, from));
            }
        }
        Ok(count)
    }

    /// Takes the datagrams waiting on `sock`, up to a batch, without waiting.
    #[cfg(not(target_os = "linux"))]
    pub fn read(&mut self, sock: &UdpSocket) -> io::Result<Took> {
        self.got.clear();
        for (i, buf) in self.bufs.iter_mut().enumerate() {
            match sock.try_recv_from(buf) {
                Ok((n, from)) => self.got.push((i, n, from)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(if self.got.is_empty() { Took::Nothing } else { Took::Drained });
                }
                Err(e) if self.got.is_empty() => return Err(e),
                Err(_) => return Ok(Took::More),
            }
        }
        Ok(Took::More)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A unicast pair on loopback (nothing leaves the machine).
    async fn pair() -> (UdpSocket, UdpSocket) {
        let rx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert!(rx.local_addr().unwrap().ip().is_loopback());
        tx.connect(rx.local_addr().unwrap()).await.unwrap();
        (rx, tx)
    }

    #[tokio::test]
    async fn a_burst_comes_in_whole_batches_in_order_then_the_socket_reads_as_empty() {
        let (rx, tx) = pair().await;
        let n = 2 * BATCH + 3;
        for i in 0..n {
            tx.send(format!("datagram {i}").as_bytes()).await.unwrap();
        }
        rx.readable().await.unwrap();
        let mut batch = Batch::default();
        let mut got = Vec::new();
        let mut reads = Vec::new();
        loop {
            let took = batch.read(&rx).unwrap();
            got.extend(batch.datagrams().map(|(b, from)| {
                assert_eq!(from, tx.local_addr().unwrap());
                String::from_utf8(b.to_vec()).unwrap()
            }));
            reads.push(took);
            if reads.last() != Some(&Took::More) {
                break;
            }
        }
        assert_eq!(got, (0..n).map(|i| format!("datagram {i}")).collect::<Vec<_>>());
        assert_eq!(reads, [Took::More, Took::More, Took::Drained]);
        // Nothing is left.
        assert_eq!(batch.read(&rx).unwrap(), Took::Nothing);
        assert_eq!(batch.datagrams().count(), 0);
        // And a datagram that comes later is announced again.
        tx.send(b"later").await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.readable()).await.unwrap().unwrap();
        assert_eq!(batch.read(&rx).unwrap(), Took::Drained);
        assert_eq!(batch.datagrams().map(|(b, _)| b.to_vec()).collect::<Vec<_>>(), [b"later".to_vec()]);
    }

    #[tokio::test]
    async fn a_datagram_of_the_largest_size_is_not_cut_short() {
        let (rx, tx) = pair().await;
        let big = vec![7u8; 65_507]; // the largest IPv4 UDP payload
        tx.send(&big).await.unwrap();
        rx.readable().await.unwrap();
        let mut batch = Batch::default();
        assert_eq!(batch.read(&rx).unwrap(), Took::Drained);
        assert_eq!(batch.datagrams().next().map(|(b, _)| b.len()), Some(big.len()));
    }
}
