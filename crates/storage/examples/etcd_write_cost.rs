//! etcd's own CPU per write for the shapes of write an API server makes,
//! to tell what in "apiserver create on etcd" costs etcd more than a put.
//!
//! `cargo run --release -p storage --example etcd_write_cost` starts a
//! private etcd (as the contract tests do) and, with 64 concurrent writers
//! on one connection, runs for 3 s each: plain puts of new keys and of
//! existing keys; the create-if-absent txn the API server sends (in three
//! compare forms); a txn with no compare at all; the API server's update
//! txn over existing keys; then put and create again while a prefix watch
//! is open, as the API server's watch cache keeps one. Prints writes/s and
//! etcd CPU µs per write. On etcd 3.4 every txn, with or without a
//! compare, costs about the same, several times a put: the cost is the
//! txn, not the create.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp, WatchOptions};
use storage::test_etcd::TestEtcd;

const CLIENTS: usize = 64;
const VALUE_BYTES: usize = 760;

#[derive(Clone, Copy, Debug)]
enum Write {
    Put,
    CreateTxn,
    /// Create-if-absent comparing `mod_revision == 0` (upstream's form).
    CreateTxnModRev,
    /// Create-if-absent comparing `version == 0`.
    CreateTxnVersion,
    /// A txn with no compare, putting a new key.
    TxnNoCompare,
    /// Put over one of the client's existing keys.
    PutExisting,
    /// The API server's update shape on an existing key: `create_revision > 0`
    /// guard, put with the previous value.
    UpdateTxn,
}

/// Keys per client that the `*Existing`/`Update*` shapes write over.
const EXISTING_KEYS: usize = 256;

#[derive(Clone, Copy, Debug)]
enum Watcher {
    None,
    Prefix { prev_kv: bool },
}

fn etcd_cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    num(11) + num(12)
}

fn etcd_pid(endpoint: &str) -> Option<u32> {
    let want = format!("--listen-client-urls={endpoint}");
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<String> = cmd.split(|&b| b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        let is_etcd = args.first().is_some_and(|a| a.rsplit('/').next() == Some("etcd"));
        (is_etcd && args.contains(&want)).then_some(pid)
    })
}

async fn run(client: &Client, pid: u32, round: usize, write: Write, watcher: Watcher) -> anyhow::Result<()> {
    let prefix = format!("/probe/{round}/");
    let watch = match watcher {
        Watcher::None => None,
        Watcher::Prefix { prev_kv } => {
            let mut options = WatchOptions::new().with_prefix();
            if prev_kv {
                options = options.with_prev_key();
            }
            let mut stream = client.watch_client().watch(prefix.clone(), Some(options)).await?;
            let seen = Arc::new(AtomicUsize::new(0));
            let counter = seen.clone();
            let task = tokio::spawn(async move {
                while let Ok(Some(resp)) = stream.message().await {
                    counter.fetch_add(resp.events().len(), Ordering::Relaxed);
                }
            });
            Some((task, seen))
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let value = vec![b'v'; VALUE_BYTES];
    if matches!(write, Write::PutExisting | Write::UpdateTxn) {
        let mut kv = client.kv_client();
        for c in 0..CLIENTS {
            for i in 0..EXISTING_KEYS {
                kv.put(format!("{prefix}c{c}/k{i}"), value.clone(), None).await?;
            }
        }
    }
    let ticks = etcd_cpu_ticks(pid);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CLIENTS {
        let mut kv = client.kv_client();
        let (stop, done, value, prefix) = (stop.clone(), done.clone(), value.clone(), prefix.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let key = match write {
                    Write::PutExisting | Write::UpdateTxn => format!("{prefix}c{c}/k{}", i % EXISTING_KEYS),
                    _ => format!("{prefix}c{c}/k{i}"),
                };
                let ok = match write {
                    Write::Put | Write::PutExisting => kv.put(key, value.clone(), None).await.is_ok(),
                    Write::TxnNoCompare => {
                        let txn = Txn::new().and_then([TxnOp::put(key, value.clone(), None)]);
                        kv.txn(txn).await.is_ok_and(|r| r.succeeded())
                    }
                    Write::UpdateTxn => {
                        let txn = Txn::new()
                            .when([Compare::create_revision(key.clone(), CompareOp::Greater, 0)])
                            .and_then([TxnOp::put(key, value.clone(), Some(etcd_client::PutOptions::new().with_prev_key()))]);
                        kv.txn(txn).await.is_ok_and(|r| r.succeeded())
                    }
                    Write::CreateTxn | Write::CreateTxnModRev | Write::CreateTxnVersion => {
                        let compare = match write {
                            Write::CreateTxnModRev => Compare::mod_revision(key.clone(), CompareOp::Equal, 0),
                            Write::CreateTxnVersion => Compare::version(key.clone(), CompareOp::Equal, 0),
                            _ => Compare::create_revision(key.clone(), CompareOp::Equal, 0),
                        };
                        let txn = Txn::new().when([compare]).and_then([TxnOp::put(key, value.clone(), None)]);
                        kv.txn(txn).await.is_ok_and(|r| r.succeeded())
                    }
                };
                if ok {
                    done.fetch_add(1, Ordering::Relaxed);
                }
                i += 1;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu_seconds = (etcd_cpu_ticks(pid) - ticks) as f64 / 100.0;
    let writes = done.load(Ordering::Relaxed);
    let mut seen = String::new();
    if let Some((task, count)) = watch {
        tokio::time::sleep(Duration::from_millis(300)).await;
        seen = format!(", watch saw {}", count.load(Ordering::Relaxed));
        task.abort();
    }
    println!(
        "{:<10} watcher {:<32} {:>8.0} writes/s  etcd {:>5.1} µs CPU per write{seen}",
        format!("{write:?}"),
        format!("{watcher:?}"),
        writes as f64 / elapsed,
        cpu_seconds * 1e6 / writes.max(1) as f64
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let flags: Vec<String> = std::env::args().skip(1).collect();
    println!("etcd flags: {flags:?}");
    let etcd = tokio::task::spawn_blocking(move || TestEtcd::start_with(&flags)).await?.map_err(anyhow::Error::msg)?;
    let pid = etcd_pid(&etcd.endpoint()).ok_or_else(|| anyhow::anyhow!("etcd's pid not found"))?;
    let client = Client::connect([etcd.endpoint()], None).await?;
    let mut round = 0;
    for _ in 0..1 {
        let shapes = [
            Write::Put,
            Write::PutExisting,
            Write::CreateTxn,
            Write::CreateTxnModRev,
            Write::CreateTxnVersion,
            Write::TxnNoCompare,
            Write::UpdateTxn,
        ];
        for write in shapes {
            round += 1;
            run(&client, pid, round, write, Watcher::None).await?;
        }
        for write in [Write::Put, Write::CreateTxn] {
            round += 1;
            run(&client, pid, round, write, Watcher::Prefix { prev_kv: false }).await?;
        }
    }
    Ok(())
}
