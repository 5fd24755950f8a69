//! Criterion benchmarks of the protocol core: the codec, the ordered log, repair digests, and a
//! simulated group of nodes (how much CPU the core costs per simulated second).
//!
//!   cargo bench --bench core

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use groupcast::proto::wire::{self, Beat, Body, Frame, MessageBody};
use groupcast::proto::{Config, Entry, Hlc, Incarnation, Log, NodeId, Seq};

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

criterion_group!(benches, codec, log, group);
criterion_main!(benches);
