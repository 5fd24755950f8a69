//! Criterion benchmarks of the protocol core: the codec, the ordered log, repair digests, the
//! log at scale (100,000 entries: insert, merge, digest exchange), and a simulated group of
//! nodes (how much CPU the core costs per simulated second).
//!
//!   cargo bench --bench core

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use groupcast::proto::wire::{self, Beat, Body, Entries, Frame, MessageBody};
use groupcast::proto::{Config, Entry, Hlc, Incarnation, Log, NodeId, Seq};
use rand::SeedableRng;
use rand::seq::SliceRandom;

fn message_frame() -> Frame {
    Frame {
        sender: NodeId(0x1234_5678_9abc_def0),
        incarnation: Incarnation(1_780_000_000_000),
        seq: Seq(42),
        hlc: Hlc(0x6543_2100_0000_0010),
        body: Body::Message(MessageBody {
            msg_seq: Seq(7),
            name: "alice".into(),
            text: "a typical chat line of about sixty characters, give or take".into(),
            bare_from: None,
            over: None,
        }),
    }
}

fn entry(i: u64) -> Entry {
    Entry {
        ts: Hlc(1_000_000 + i * 7919 % 10_007),
        node: NodeId(1 + i % 13),
        incarnation: Incarnation(1),
        seq: Seq(i),
        name: "n".into(),
        text: "some text".into(),
        bare_from: None,
        over: None,
    }
}

fn codec(c: &mut Criterion) {
    let f = message_frame();
    let bytes = wire::encode(&f).unwrap();
    c.bench_function("encode message frame", |b| b.iter(|| wire::encode(black_box(&f)).unwrap()));
    c.bench_function("decode message frame", |b| b.iter(|| wire::decode(black_box(&bytes)).unwrap()));
    let beat = Frame {
        body: Body::Heartbeat(Beat {
            time_ms: 1_780_000_000_000,
            skew_ms: 0,
            name: "alice".into(),
            msg_seq: Seq(7),
            interval_ms: 500,
            tcp_port: 40000,
            frontier: Hlc(5),
            links: vec![(NodeId(2), 100), (NodeId(3), 120)],
            resumed: false,
        }),
        ..message_frame()
    };
    let beat = wire::encode(&beat).unwrap();
    c.bench_function("decode heartbeat", |b| b.iter(|| wire::decode(black_box(&beat)).unwrap()));
    c.bench_function("decode bare text", |b| b.iter(|| wire::decode(black_box(b"hello from C\n")).unwrap()));
}

fn log(c: &mut Criterion) {
    c.bench_function("insert 10,000 out-of-order entries", |b| {
        b.iter_batched(
            || (0..10_000).map(entry).collect::<Vec<_>>(),
            |entries| {
                let mut log = Log::new(10_000);
                for e in entries {
                    log.insert(e);
                }
                log
            },
            BatchSize::LargeInput,
        );
    });
    let mut full = Log::new(10_000);
    (0..10_000).map(entry).for_each(|e| {
        full.insert(e);
    });
    let empty = Log::new(10).digest();
    c.bench_function("repair reply for a newcomer (10,000 entries)", |b| {
        b.iter(|| full.missing_for(black_box(&empty), 1 << 20));
    });
    c.bench_function("log digest (10,000 entries)", |b| b.iter(|| full.digest_hex()));
}

/// Entries in the log-at-scale benchmarks.
const SCALE: usize = 100_000;
/// Origins (node lives) they come from: each sends `SCALE / ORIGINS` numbered messages. Few
/// enough per origin that a full shuffle stays within what the log tracks out of order, so
/// every entry is kept.
const ORIGINS: usize = 100;
/// Bytes in one repair reply, as the node's `REPAIR_BUDGET` (private to `proto::node`).
const REPAIR_BUDGET: usize = 128 << 10;

/// The `i`th message the group sent: stamps rise with `i`, and each origin numbers its own
/// messages from 1, as real nodes do.
fn sent(i: usize) -> Entry {
    let node = (i % ORIGINS) as u64 + 1;
    Entry {
        ts: Hlc(1_000_000 + 7 * i as u64),
        node: NodeId(node),
        incarnation: Incarnation(1),
        seq: Seq((i / ORIGINS) as u64 + 1),
        name: format!("peer-{node}").into(),
        text: format!("a chat line of a fairly typical length, number {i}").into(),
        bare_from: None,
        over: None,
    }
}

/// A log of `capacity` holding `entries`, inserted in the order given.
fn log_of(capacity: usize, entries: impl IntoIterator<Item = Entry>) -> Log {
    let mut log = Log::new(capacity);
    entries.into_iter().for_each(|e| {
        log.insert(e);
    });
    log
}

/// Applies a repair reply as the node does: entries, then gaps, then the shared message.
fn apply(log: &mut Log, reply: Entries) {
    for e in reply.entries {
        log.insert(e);
    }
    for (node, inc, first, last) in reply.gaps {
        log.mark_lost(node, inc, first, last);
    }
    if let Some(s) = reply.shared {
        log.offer_shared(&s);
    }
}

fn log_at_scale(c: &mut Criterion) {
    let mut shuffled: Vec<Entry> = (0..SCALE).map(sent).collect();
    shuffled.shuffle(&mut rand::rngs::StdRng::seed_from_u64(10));
    let full = log_of(SCALE, shuffled.iter().cloned());
    assert_eq!((full.len(), full.lost()), (SCALE, 0), "the log holds every entry");
    // A neighbour that was away for the second half: it holds every origin's first half.
    let half = || log_of(SCALE, (0..SCALE / 2).map(sent));
    let lagging = half();
    let reply = full.missing_for(&lagging.digest(), usize::MAX);
    assert_eq!((reply.entries.len(), reply.more), (SCALE / 2, false));
    let mut merged = half();
    apply(&mut merged, reply.clone());
    assert_eq!(merged.digest_hex(), full.digest_hex(), "one reply brings it level");

    let mut g = c.benchmark_group("log at scale");
    g.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    g.bench_function("insert 100,000 out-of-order entries", |b| {
        b.iter_batched(|| shuffled.clone(), |entries| log_of(SCALE, entries), BatchSize::LargeInput);
    });
    g.bench_function("repair reply: the 50,000 of 100,000 a neighbour lacks", |b| {
        let theirs = lagging.digest();
        b.iter(|| full.missing_for(black_box(&theirs), usize::MAX));
    });
    g.bench_function("apply that reply to the log holding 50,000", |b| {
        b.iter_batched(
            || (half(), reply.clone()),
            |(mut log, reply)| {
                apply(&mut log, reply);
                log
            },
            BatchSize::LargeInput,
        );
    });
    g.bench_function("digest exchange, in step (100,000 entries)", |b| {
        b.iter(|| {
            let theirs = black_box(&full).digest();
            full.missing_for(&theirs, REPAIR_BUDGET)
        });
    });
    g.bench_function("digest exchange, neighbour holds half (100,000 entries)", |b| {
        b.iter(|| {
            let theirs = black_box(&lagging).digest();
            full.missing_for(&theirs, REPAIR_BUDGET)
        });
    });
    g.finish();
}

fn group(c: &mut Criterion) {
    let mut g = c.benchmark_group("simulated group");
    g.sample_size(10);
    for n in [10usize, 50] {
        g.bench_function(format!("{n} nodes with the ring, 10% loss, 10 simulated seconds"), |b| {
            b.iter(|| {
                let medium = groupcast::sim::Medium { loss: 0.1, ..groupcast::sim::Medium::default() };
                let mut s = groupcast::sim::Sim::new(1, medium);
                let cfg = Config { ring_addr: Some(SocketAddr::from(([0, 0, 0, 0], 7000))), ..Config::default() };
                s.add_nodes(n, &cfg);
                s.run_for(Duration::from_secs(10));
                s.sent
            });
        });
    }
    g.finish();
}

criterion_group!(benches, codec, log, log_at_scale, group);
criterion_main!(benches);
