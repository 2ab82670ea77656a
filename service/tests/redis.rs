//! `RedisQueue` against a real, private redis-server: order, delay, leases, redelivery, dead
//! letter, removal, the cancel broadcast and a Redis restart.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use vrender_service::queue::redis::RedisQueueConfig;
use vrender_service::queue::{Delivery, Queue, QueueItem, RedisQueue};

fn config(lease_ms: u64, max_deliveries: u32) -> RedisQueueConfig {
    RedisQueueConfig {
        lease_ttl: Duration::from_millis(lease_ms),
        max_deliveries,
        // The tests call `reap` themselves; no background tasks run.
        reap_interval: Duration::from_secs(3600),
        resync_interval: Duration::from_secs(3600),
    }
}

async fn queue(redis: &RedisServer, lease_ms: u64, max_deliveries: u32) -> RedisQueue {
    RedisQueue::connect(&redis.url(), config(lease_ms, max_deliveries))
        .await
        .expect("connect")
}

fn item(id: &str, priority: u8) -> QueueItem {
    QueueItem {
        job_id: id.into(),
        priority,
    }
}

async fn pop(q: &RedisQueue) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), q.pop())
        .await
        .expect("an item within 5 s")
        .expect("pop")
}

async fn nothing_for(q: &RedisQueue, d: Duration) {
    if let Ok(got) = tokio::time::timeout(d, q.pop()).await {
        panic!("expected no item, got {got:?}");
    }
}

#[tokio::test]
async fn priority_first_then_fifo_and_opaque_ids() {
    let redis = RedisServer::start();
    let q = queue(&redis, 10_000, 5).await;
    for (id, p) in [
        ("a", 5),
        ("b", 9),
        ("job-1/chunk/0", 5),
        ("c", 1),
        ("d", 9),
        ("job-1/concat", 5),
    ] {
        q.push(item(id, p), Duration::ZERO).await.unwrap();
    }
    // Already waiting: a no-op that keeps its place.
    q.push(item("a", 5), Duration::ZERO).await.unwrap();
    assert_eq!(q.waiting().await.unwrap(), 6);
    let mut got = Vec::new();
    for _ in 0..6 {
        let d = pop(&q).await;
        assert_eq!(d.deliveries, 1);
        got.push((d.item.job_id, d.item.priority));
    }
    let ids: Vec<&str> = got.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["b", "d", "a", "job-1/chunk/0", "job-1/concat", "c"]);
    assert_eq!(got[0].1, 9);
    assert_eq!(q.waiting().await.unwrap(), 0);
}

#[tokio::test]
async fn delayed_push_waits_for_its_time() {
    let redis = RedisServer::start();
    let q = queue(&redis, 10_000, 5).await;
    q.push(item("later", 5), Duration::from_millis(600))
        .await
        .unwrap();
    // Delayed items are not waiting yet, and a second push is a no-op.
    q.push(item("later", 5), Duration::ZERO).await.unwrap();
    assert_eq!(q.waiting().await.unwrap(), 0);
    assert_eq!(q.reap().await.unwrap(), (0, 0));
    let start = Instant::now();
    loop {
        let (_, due) = q.reap().await.unwrap();
        if due == 1 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "never due");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        start.elapsed() >= Duration::from_millis(400),
        "due too early"
    );
    assert_eq!(q.waiting().await.unwrap(), 1);
    assert_eq!(pop(&q).await.item.job_id, "later");
}

#[tokio::test]
async fn expired_lease_is_redelivered_with_its_count_and_renew_keeps_it() {
    let redis = RedisServer::start();
    let a = queue(&redis, 400, 5).await;
    let b = queue(&redis, 400, 5).await;
    a.push(item("j", 7), Duration::ZERO).await.unwrap();
    let first = pop(&a).await;
    assert_eq!((first.item.job_id.as_str(), first.deliveries), ("j", 1));
    // Renewed in time: the reaper leaves it alone.
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(a.renew("j").await.unwrap());
        assert_eq!(a.reap().await.unwrap(), (0, 0));
    }
    // Not renewed: expired, back to waiting, delivered again with deliveries = 2 and its priority.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.reap().await.unwrap(), (1, 0));
    assert_eq!(a.waiting().await.unwrap(), 1);
    let second = pop(&b).await;
    assert_eq!(second.item, item("j", 7));
    assert_eq!(second.deliveries, 2);
    // The old holder lost it: it can neither renew nor ack the new holder's lease.
    assert!(!a.renew("j").await.unwrap());
    a.ack("j").await.unwrap();
    assert!(b.renew("j").await.unwrap());
    b.ack("j").await.unwrap();
    assert!(!b.renew("j").await.unwrap());
    // After the ack the count starts again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(b.reap().await.unwrap(), (0, 0));
    b.push(item("j", 7), Duration::ZERO).await.unwrap();
    assert_eq!(pop(&b).await.deliveries, 1);
}

#[tokio::test]
async fn too_many_deliveries_go_to_the_dead_letter_set() {
    let redis = RedisServer::start();
    let q = queue(&redis, 300, 2).await;
    q.push(item("doomed", 5), Duration::ZERO).await.unwrap();
    for n in 1..=2 {
        let d = pop(&q).await;
        assert_eq!(d.deliveries, n);
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert_eq!(q.reap().await.unwrap(), (1, 0));
    }
    // The third delivery is past the limit: handed out once more (so the worker fails the job),
    // dead-lettered, and never delivered again.
    let last = pop(&q).await;
    assert_eq!(last.deliveries, 3);
    assert_eq!(q.dead().await.unwrap(), ["doomed"]);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(q.reap().await.unwrap(), (0, 0));
    assert_eq!(q.waiting().await.unwrap(), 0);
    nothing_for(&q, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn remove_drops_waiting_and_delayed_items() {
    let redis = RedisServer::start();
    let q = queue(&redis, 10_000, 5).await;
    q.push(item("w", 5), Duration::ZERO).await.unwrap();
    q.push(item("d", 5), Duration::from_secs(60)).await.unwrap();
    q.push(item("k", 5), Duration::ZERO).await.unwrap();
    assert!(q.remove("w").await.unwrap());
    assert!(q.remove("d").await.unwrap());
    assert!(!q.remove("w").await.unwrap());
    assert!(!q.remove("never").await.unwrap());
    assert_eq!(q.waiting().await.unwrap(), 1);
    assert_eq!(pop(&q).await.item.job_id, "k");
    nothing_for(&q, Duration::from_millis(300)).await;
}

#[tokio::test]
async fn pop_waits_for_a_push_from_another_process_and_close_wakes_it() {
    let redis = RedisServer::start();
    let q = Arc::new(queue(&redis, 10_000, 5).await);
    let other = queue(&redis, 10_000, 5).await;
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move { q.pop().await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pushed = Instant::now();
    other.push(item("x", 5), Duration::ZERO).await.unwrap();
    let got = waiter.await.unwrap().unwrap();
    // Polling backs off to 250 ms at most.
    assert!(
        pushed.elapsed() < Duration::from_millis(600),
        "{:?}",
        pushed.elapsed()
    );
    assert_eq!(got.item.job_id, "x");
    let waiter = {
        let q = q.clone();
        tokio::spawn(async move { q.pop().await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    q.close().await;
    let r = tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .expect("close wakes pop")
        .unwrap();
    assert!(r.is_err());
}

#[tokio::test]
async fn cancel_broadcast_reaches_subscribers() {
    let redis = RedisServer::start();
    let publisher = queue(&redis, 10_000, 5).await;
    let subscriber = queue(&redis, 10_000, 5).await;
    let got: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
    let sink = got.clone();
    subscriber
        .subscribe_cancels(move |id| sink.lock().unwrap().push((id.to_string(), Instant::now())))
        .await
        .unwrap();
    let sent = Instant::now();
    publisher.publish_cancel("job-9/chunk/3").await.unwrap();
    let start = Instant::now();
    while got.lock().unwrap().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "no cancel received"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (id, at) = got.lock().unwrap()[0].clone();
    assert_eq!(id, "job-9/chunk/3");
    println!("cancel broadcast latency: {:?}", at - sent);
    assert!(at - sent < Duration::from_secs(1));
}

#[tokio::test]
async fn survives_a_redis_restart() {
    let mut redis = RedisServer::start();
    let q = queue(&redis, 10_000, 5).await;
    q.push(item("held", 5), Duration::ZERO).await.unwrap();
    assert_eq!(pop(&q).await.item.job_id, "held");
    redis.restart();
    // Commands fail while reconnecting, then work again; the lease Redis forgot is re-created.
    let start = Instant::now();
    let renewed = loop {
        match q.renew("held").await {
            Ok(r) => break r,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(15),
                    "no reconnect: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(renewed);
    println!("reconnected after a Redis restart in {:?}", start.elapsed());
    q.push(item("after", 5), Duration::ZERO).await.unwrap();
    assert_eq!(pop(&q).await.item.job_id, "after");
    q.ack("held").await.unwrap();
    assert!(!q.renew("held").await.unwrap());
}
