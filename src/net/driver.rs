//! The network task: owns the socket, reads the clock, and drives the protocol core. Front ends
//! talk to it over bounded channels: `Request`s in, `NetEvent`s out.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::collections::HashMap;

use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::alarm::Alarm;
use super::link::{self, Conn, ConnId, Gate, LinkEvent, LinkTx};
use super::recv::{self, Batch, Took};
use crate::proto::{
    ClockBasis, Command, CommandError, DropReason, Entry, Event, Hlc, LinkEnd, Neighbours, Node, NodeId, Now, Output,
    PeerView, Snapshot, Stats, Time,
};

/// Events buffered for a front end that is slow to read. Beyond this, events are counted as
/// dropped and the front end is sent a `Resync` from the core's log and peer table once it
/// has room again: messages and peers are never lost on the way to the screen.
const EVENT_QUEUE: usize = 4096;
/// Room the queue must have again before a resync is sent (so it is not sent into a queue
/// that is about to overflow again).
const RESYNC_ROOM: usize = EVENT_QUEUE / 4;
const REQUEST_QUEUE: usize = 64;
/// Datagrams taken per wake-up at most, before the outputs are flushed.
const RECV_PER_WAKE: usize = 64;
/// How often the front end gets the peer table and counters, and how late that may come.
const STATUS_EVERY: Duration = Duration::from_secs(1);
const STATUS_SLACK: Duration = Duration::from_millis(250);
/// The first pause after a failed accept; it doubles up to a second while accepts fail.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

static ORIGIN: OnceLock<Instant> = OnceLock::new();

/// The monotonic clock, as time since this process first read it.
pub fn mono_now() -> Time {
    Time(ORIGIN.get_or_init(Instant::now).elapsed())
}

/// The instant of monotonic time `t`, for the runtime's timers.
fn mono_instant(t: Time) -> tokio::time::Instant {
    tokio::time::Instant::from_std(*ORIGIN.get_or_init(Instant::now) + t.0)
}

/// The wall clock, as time since the UNIX epoch.
pub fn wall_now() -> std::time::Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Both clocks, as the core takes them with every input.
pub fn now() -> Now {
    Now { mono: mono_now(), wall: wall_now() }
}

/// Everything a front end needs to rebuild its view after it fell behind: the core's whole log
/// (in order), the peer table and the marks.
#[derive(Clone, Debug, PartialEq)]
pub struct Resync {
    /// Every message in the core's log, in log order.
    pub entries: Vec<Entry>,
    /// The group's settled mark.
    pub settled: Hlc,
    /// The shared message, if there is one.
    pub shared: Option<Entry>,
    /// The peer table.
    pub peers: Vec<PeerView>,
    /// This node's ring neighbours.
    pub ring: Neighbours,
    /// This host's wall clock minus group time.
    pub skew_ms: i64,
    /// Events dropped while the front end was behind (their effect is in this resync).
    pub dropped: u64,
}

/// What a front end asks of the network task.
#[derive(Debug)]
pub enum Request {
    /// Run a command on the node, and send back its answer.
    Command(Command, oneshot::Sender<Result<(), CommandError>>),
    /// Send back a snapshot of the node.
    Snapshot(oneshot::Sender<Snapshot>),
}

/// Who the node is and where it joined, sent once at start.
#[derive(Clone, Debug, PartialEq)]
pub struct Ready {
    /// This node's id.
    pub node: NodeId,
    /// Its name.
    pub name: String,
    /// The multicast group joined.
    pub group: SocketAddr,
    /// The interface address in use (given, or chosen by the routing table).
    pub iface: String,
    /// The group key's fingerprint in a keyed group; `None` in an open one.
    pub key: Option<String>,
}

/// What the network task tells a front end.
#[derive(Clone, Debug, PartialEq)]
pub enum NetEvent {
    /// The node has joined the group.
    Ready(Ready),
    /// Something the protocol core reported.
    Core(Event),
    /// This many events were dropped because the front end did not keep up; a `Resync`
    /// follows once it has caught up.
    Lagged(u64),
    /// The view rebuilt from the core after a lag.
    Resync(Box<Resync>),
    /// The peer table and counters, once a second, for screens that show ages and loss.
    Status {
        /// Every peer, as the core sees it.
        peers: Vec<PeerView>,
        /// The node's counters.
        stats: Stats,
    },
    /// The node's group time at a monotonic instant, once a second: front ends show times of
    /// their own events in group time, whatever this host's wall clock says, and say what it
    /// rests on.
    GroupTime {
        /// Group time at `mono`.
        time: Hlc,
        /// The monotonic instant of that reading.
        mono: Time,
        /// What group time rests on.
        basis: ClockBasis,
    },
    /// A datagram could not be sent (the link may be down); counted, and the node carries on.
    SendFailed(String),
}

/// What a failed send says, with what to do when the network is gone from under the node.
fn send_failure(e: &std::io::Error, so_far: u64) -> String {
    const ENETUNREACH: i32 = 101;
    const ENODEV: i32 = 19;
    match e.raw_os_error() {
        Some(ENETUNREACH | ENODEV) => format!(
            "{e} ({so_far} so far): the route to the group is gone (the link is down, or the default route was \
             removed). The node keeps running and catches up when it is back; check the link and its route, \
             or start on another interface with --iface"
        ),
        _ => format!("{e} ({so_far} so far)"),
    }
}

/// A front end that takes the node's events on the network task itself, in order, as they come:
/// no queue and no task hop between the socket and the screen (`groupcast node` prints its lines
/// here). It must not block for long: the network task waits while it writes.
pub trait EventSink: Send + 'static {
    /// The next event.
    fn event(&mut self, ev: NetEvent);
    /// A batch of events is over: what was written goes out.
    fn flush(&mut self);
}

/// A running node as a front end holds it: requests in, events out, and its task.
pub struct NodeHandle {
    /// Where requests to the node go.
    pub requests: mpsc::Sender<Request>,
    /// What the node reports, in order (nothing, when it has an `EventSink`: the channel ends
    /// with the task).
    pub events: mpsc::Receiver<NetEvent>,
    /// The network task; it ends when the node has left or every request sender is gone.
    pub task: JoinHandle<()>,
}

impl NodeHandle {
    /// Runs a command on the node and waits for its answer.
    pub async fn command(&self, cmd: Command) -> Result<(), CommandError> {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(Request::Command(cmd, tx)).await.is_err() {
            return Err(CommandError::Left);
        }
        rx.await.unwrap_or(Err(CommandError::Left))
    }

    /// A snapshot of the node, or `None` if its task has ended.
    pub async fn snapshot(&self) -> Option<Snapshot> {
        let (tx, rx) = oneshot::channel();
        self.requests.send(Request::Snapshot(tx)).await.ok()?;
        rx.await.ok()
    }
}

/// Starts the network task for `core` on `sock`, which has joined `group` on `iface`; ring
/// links are accepted on `listener` (the port `core` advertises). Events go to `sink` if there
/// is one, else to the handle's channel.
pub fn spawn(
    sock: UdpSocket,
    listener: Option<TcpListener>,
    (group, iface): (SocketAddr, String),
    core: Node,
    sink: Option<Box<dyn EventSink>>,
) -> NodeHandle {
    let (req_tx, req_rx) = mpsc::channel(REQUEST_QUEUE);
    let (ev_tx, ev_rx) = mpsc::channel(EVENT_QUEUE);
    let key = core.config().key.as_ref().map(|k| k.fingerprint().to_string());
    // Shown without the interface index an IPv6 group carries as its scope (`iface` names it).
    let shown = match group {
        SocketAddr::V6(g) => SocketAddr::V6(std::net::SocketAddrV6::new(*g.ip(), g.port(), 0, 0)),
        v4 @ SocketAddr::V4(_) => v4,
    };
    let ready = Ready { node: core.id(), name: core.name().to_string(), group: shown, iface, key };
    let task = tokio::spawn(async move {
        let (link_tx, link_rx) = mpsc::channel(EVENT_QUEUE);
        let mut d = Driver {
            sock,
            group,
            core,
            events: ev_tx,
            sink,
            lagged: 0,
            resync: false,
            send_errors: 0,
            links: HashMap::new(),
            gate: Gate::default(),
            link_events: link_tx,
            next_conn: 0,
            closing: Vec::new(),
        };
        d.emit(NetEvent::Ready(ready));
        d.emit(NetEvent::GroupTime { time: d.core.group_now(), mono: mono_now(), basis: d.core.clock_basis() });
        if let Some(sink) = &mut d.sink {
            sink.flush();
        }
        d.run(req_rx, listener, link_rx).await;
        if let Some(sink) = &mut d.sink {
            sink.flush();
        }
    });
    NodeHandle { requests: req_tx, events: ev_rx, task }
}

struct Driver {
    sock: UdpSocket,
    group: SocketAddr,
    core: Node,
    events: mpsc::Sender<NetEvent>,
    /// Takes the events instead of `events`, on this task.
    sink: Option<Box<dyn EventSink>>,
    lagged: u64,
    /// Events were dropped: the front end needs a resync before anything else.
    resync: bool,
    send_errors: u64,
    /// Open ring links: which connection, and its writer.
    links: HashMap<NodeId, (ConnId, LinkTx)>,
    link_events: mpsc::Sender<LinkEvent>,
    next_conn: ConnId,
    /// Caps the ring connections that have not said hello yet.
    gate: Gate,
    /// Links closed on leaving: their goodbyes are sent before the task ends.
    closing: Vec<LinkTx>,
}

impl Driver {
    async fn run(
        &mut self,
        mut requests: mpsc::Receiver<Request>,
        listener: Option<TcpListener>,
        mut link_events: mpsc::Receiver<LinkEvent>,
    ) {
        let mut batch = Batch::default();
        let mut accept_paused: Option<tokio::time::Instant> = None;
        let mut accept_backoff = ACCEPT_BACKOFF / 2;
        // The front end's status comes about once a second, in a wake-up that happens anyway
        // (or a quarter of a second late, if none does).
        let mut next_status = tokio::time::Instant::now();
        // One alarm for the core's next deadline and the status, set only when that moves.
        let mut alarm = Alarm::new(mono_instant(self.core.next_deadline()));
        loop {
            alarm.set(mono_instant(self.core.next_deadline()).min(next_status + STATUS_SLACK));
            tokio::select! {
                // The socket's own waker slot, not a waiter list entry made and unmade each pass.
                r = std::future::poll_fn(|cx| self.sock.poll_recv_ready(cx)) => if r.is_ok() { self.take_datagrams(&mut batch) },
                req = requests.recv() => {
                    let Some(req) = req else { break };
                    self.request(req);
                    // Requests already waiting (a burst of lines) are served before the flush,
                    // so their datagrams can go out bundled.
                    for _ in 1..REQUEST_QUEUE {
                        let Ok(req) = requests.try_recv() else { break };
                        self.request(req);
                    }
                }
                // (The core does only what is due; the status is seen to below.)
                () = alarm.fired() => self.core.handle_timer(now()),
                r = async { listener.as_ref().expect("guarded").accept().await }, if listener.is_some() && accept_paused.is_none() => {
                    if let Ok((stream, from)) = r {
                        accept_backoff = ACCEPT_BACKOFF / 2;
                        self.accepted(stream, from);
                    } else {
                        // Out of file descriptors, most likely: wait before accepting again
                        // rather than spin, and count it.
                        self.core.count_drop(DropReason::AcceptFailed);
                        accept_backoff = (accept_backoff * 2).clamp(ACCEPT_BACKOFF, Duration::from_secs(1));
                        accept_paused = Some(tokio::time::Instant::now() + accept_backoff);
                    }
                }
                () = async { tokio::time::sleep_until(accept_paused.expect("guarded")).await }, if accept_paused.is_some() => {
                    accept_paused = None;
                }
                Some(ev) = link_events.recv() => self.on_link_event(ev),
            }
            // Chores due in a moment are done in this wake-up rather than in one of their own.
            let n = now();
            if self.core.due_within_slack(n) {
                self.core.handle_timer(n);
            }
            let at = mono_instant(n.mono);
            if at >= next_status {
                next_status = at + STATUS_EVERY;
                let (peers, stats) = (self.core.peer_views(), self.core.stats().clone());
                self.emit(NetEvent::Status { peers, stats });
                let basis = self.core.clock_basis();
                self.emit(NetEvent::GroupTime { time: self.core.group_now(), mono: mono_now(), basis });
            }
            self.flush().await;
            if self.resync {
                self.try_resync();
            }
            if self.events.capacity() < EVENT_QUEUE / 2 {
                // The front end is behind: let it run before more datagrams are taken (they
                // wait in the socket's buffer meanwhile).
                tokio::task::yield_now().await;
            }
            if self.core.has_left() {
                break;
            }
        }
        // Leaving: each neighbour gets its goodbye before the process may exit, so it does not
        // take the closing link for a crash (at most a second).
        let closing = std::mem::take(&mut self.closing);
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            for tx in &closing {
                tx.closed().await;
            }
        })
        .await;
    }

    /// Whatever is waiting on the socket, a batch at a time, up to `RECV_PER_WAKE`: the outputs
    /// are flushed once for all of it.
    fn take_datagrams(&mut self, batch: &mut Batch) {
        for _ in 0..RECV_PER_WAKE / recv::BATCH {
            if self.events.capacity() < EVENT_QUEUE / 2 {
                break; // the front end is behind (see `run`)
            }
            // An error here is an ICMP report on an earlier send: no datagram is lost by it,
            // so there is nothing to do but carry on.
            let took = batch.read(&self.sock).unwrap_or(Took::Nothing);
            for (bytes, from) in batch.datagrams() {
                self.core.handle_datagram(bytes, super::socket::unscoped(from), now());
            }
            if took != Took::More {
                break;
            }
        }
    }

    fn request(&mut self, req: Request) {
        match req {
            Request::Command(cmd, reply) => {
                let r = self.core.handle_command(cmd, now());
                let _ = reply.send(r);
            }
            Request::Snapshot(reply) => {
                let _ = reply.send(self.core.snapshot());
            }
        }
    }

    async fn flush(&mut self) {
        while let Some(out) = self.core.poll_output() {
            match out {
                Output::Multicast(bytes) => {
                    if let Err(e) = self.sock.send_to(&bytes, self.group).await {
                        self.send_errors += 1;
                        // Report the first failure and then every hundredth, not each one.
                        if self.send_errors % 100 == 1 {
                            let what = send_failure(&e, self.send_errors);
                            self.emit(NetEvent::SendFailed(what));
                        }
                    }
                }
                Output::Event(e) => self.emit(NetEvent::Core(e)),
                Output::Dial { peer, addr } => {
                    let c = self.conn(Some(peer), None);
                    // A link-local neighbour is reached over the group's interface.
                    let addr = super::socket::scoped(addr, self.group);
                    tokio::spawn(link::dial(addr, c, self.link_events.clone()));
                }
                Output::Link { peer, bytes } => {
                    let full = self.links.get(&peer).is_some_and(|(_, tx)| !tx.send(bytes));
                    if full {
                        // A peer that cannot keep up loses its link, as if it broke.
                        if let Some((_, tx)) = self.links.remove(&peer) {
                            tx.close();
                        }
                        self.core.handle_link_end(peer, LinkEnd::Broken, now());
                    }
                }
                Output::Close { peer } => {
                    if let Some((_, tx)) = self.links.remove(&peer) {
                        tx.close();
                        if self.core.has_left() {
                            self.closing.push(tx);
                        }
                    }
                }
            }
        }
        if let Some(sink) = &mut self.sink {
            sink.flush();
        }
    }

    /// What a new connection needs: a number, our hello, the key to check theirs.
    fn conn(&mut self, expect: Option<NodeId>, pass: Option<link::Pass>) -> Conn {
        self.next_conn += 1;
        let key = self.core.config().key.clone();
        Conn { id: self.next_conn, hello: self.core.hello(now()), expect, key, pass }
    }

    /// A connection to the ring port: run it if the caps on connections that have not said
    /// hello allow, else close it at once (and count it).
    fn accepted(&mut self, stream: tokio::net::TcpStream, from: SocketAddr) {
        if let Some(pass) = self.gate.enter(from.ip()) {
            let c = self.conn(None, Some(pass));
            tokio::spawn(link::run(stream, c, self.link_events.clone(), false));
        } else {
            drop(stream);
            self.core.count_drop(DropReason::LinkBusy);
        }
    }

    fn on_link_event(&mut self, ev: LinkEvent) {
        let now = now();
        match ev {
            LinkEvent::Up { conn, peer, addr, tx } => match self.links.entry(peer) {
                // Both ends dialled at once: keep the first link.
                std::collections::hash_map::Entry::Occupied(_) => {
                    tx.close();
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    // Registered first: if the core does not take the link, its goodbye and
                    // close go out on it like any other.
                    v.insert((conn, tx));
                    self.core.handle_link_up(peer, super::socket::unscoped(addr), now);
                }
            },
            LinkEvent::Frame { conn, peer, bytes } => {
                if self.links.get(&peer).is_some_and(|(c, _)| *c == conn) {
                    self.core.handle_link_frame(peer, &bytes, now);
                }
            }
            LinkEvent::Ended { conn, peer } => {
                if self.links.get(&peer).is_some_and(|(c, _)| *c == conn) {
                    self.links.remove(&peer);
                    self.core.handle_link_end(peer, LinkEnd::Broken, now);
                }
            }
            LinkEvent::DialFailed { peer, end } => self.core.handle_link_end(peer, end, now),
            LinkEvent::Unnamed => self.core.count_drop(DropReason::LinkNoHello),
        }
    }

    /// Sends an event to the front end. If the queue is full the event is counted as dropped,
    /// and nothing more is sent until the queue has room for a resync, which carries the
    /// effect of everything dropped.
    fn emit(&mut self, e: NetEvent) {
        if let Some(sink) = &mut self.sink {
            return sink.event(e);
        }
        if self.resync && !self.try_resync() {
            self.lagged += 1;
            return;
        }
        if self.events.try_send(e).is_err() {
            self.lagged += 1;
            self.resync = true;
        }
    }

    /// Sends the lag report and a resync if the queue has room; true if it did.
    fn try_resync(&mut self) -> bool {
        if self.events.capacity() < RESYNC_ROOM {
            return false;
        }
        let snap = self.core.snapshot();
        let resync = Resync {
            entries: self.core.log().iter().cloned().collect(),
            settled: snap.settled,
            shared: snap.shared,
            peers: snap.peers,
            ring: snap.ring,
            skew_ms: snap.skew_ms,
            dropped: self.lagged,
        };
        let _ = self.events.try_send(NetEvent::Lagged(self.lagged));
        let _ = self.events.try_send(NetEvent::Resync(Box::new(resync)));
        self.lagged = 0;
        self.resync = false;
        true
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_lost_route_says_what_to_do() {
        let e = std::io::Error::from_raw_os_error(101);
        let said = super::send_failure(&e, 1);
        assert!(said.contains("route to the group is gone") && said.contains("--iface"), "{said}");
        let other = super::send_failure(&std::io::Error::from_raw_os_error(105), 3);
        assert!(other.ends_with("(3 so far)"), "{other}");
    }
}
