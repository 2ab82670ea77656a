//! The distributed queue: Redis sorted sets moved atomically by Lua scripts, through `fred`.
//!
//! Keys (all under `vrender:`):
//! * `q`: waiting ids, scored `(10 - priority) * 1e13 + seq` so `ZPOPMIN` gives the highest priority
//!   first and first-in-first-out within a priority (`seq` is `INCR vrender:seq`);
//! * `delayed`: ids pushed with a delay (retry backoff), scored by the time they are due;
//! * `leases`: ids handed to a worker, scored by lease expiry; `holders`: id → the holder's random
//!   token, so a worker that lost its lease cannot renew or ack the next holder's lease;
//! * `deliveries`: id → deliveries since the last ack; `prio`: id → priority;
//! * `dead`: ids delivered more than `QUEUE_MAX_DELIVERIES` times without an ack (scored by time).
//!
//! Why sorted sets and not Streams: priorities. A stream is one FIFO; priorities would need one
//! stream per level and a reader that polls them in order, while a sorted set gives "highest
//! priority, then oldest" in one `ZPOPMIN`, and leases are one more sorted set the reaper scans.
//!
//! Times are Redis server time (`TIME` inside the scripts), so worker clocks do not matter.
//! `pop` polls (`ZPOPMIN` in a script) with a backoff from 25 ms to 250 ms when the queue is empty:
//! a blocking `BZPOPMIN` cannot set the lease in the same atomic step, and at most four polls a
//! second per worker are nothing to Redis.
//!
//! Every process runs a reaper (once a second): expired leases go back to `q` (the next pop counts
//! one more delivery) and due delayed ids move to `q`. Every 5 s one process (holder of a short
//! `vrender:resync` lock) compares the store with Redis: a job `queued` in the store that Redis does
//! not know (Redis restarted without persistence, or a crash between the store write and the push)
//! is pushed again, and a job `processing` with no lease and no progress for two lease times is
//! pushed as a redelivery so a live worker takes it over. For a job split into chunks, the open
//! child tasks of its plan (`{jobId}/chunk/{n}`, `{jobId}/concat`) are resynced the same way.
//!
//! Cancellation is broadcast on the pub/sub channel `vrender:cancel` (see [`RedisQueue::publish_cancel`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fred::clients::SubscriberClient;
use fred::prelude::*;
use fred::types::scripts::Script;
use tokio::sync::Notify;

use super::{Delivery, Queue, QueueError, QueueItem};
use crate::config::Settings;
use crate::model::{now_millis, JobStatus};
use crate::store::JobStore;

/// The keys every script gets, in this order (KEYS[1] … KEYS[9]).
const KEYS: [&str; 9] = [
    "vrender:q",
    "vrender:delayed",
    "vrender:leases",
    "vrender:holders",
    "vrender:deliveries",
    "vrender:prio",
    "vrender:dead",
    "vrender:seq",
    "vrender:resync",
];
const CANCEL_CHANNEL: &str = "vrender:cancel";

/// Shared head of every script: server time in ms and the move into the waiting set.
const PRELUDE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function enqueue(id)
  local prio = tonumber(redis.call('HGET', KEYS[6], id) or '5')
  local seq = redis.call('INCR', KEYS[8])
  redis.call('ZADD', KEYS[1], (10 - prio) * 1e13 + seq, id)
end
local function waiting(id)
  return redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id)
end
"#;

/// ARGV: id, priority, delay ms. 1 = added, 0 = already waiting.
const PUSH: &str = r#"
local id, prio, delay = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
if waiting(id) then return 0 end
redis.call('HSET', KEYS[6], id, prio)
if delay > 0 then
  redis.call('ZADD', KEYS[2], now + delay, id)
else
  enqueue(id)
end
return 1
"#;

/// ARGV: token, lease ms, max deliveries. nil or {id, priority, deliveries}. An item past the
/// limit goes to `dead` and is handed out once more, unleased, so the worker fails its job.
const POP: &str = r#"
local r = redis.call('ZPOPMIN', KEYS[1])
if #r == 0 then return false end
local id = r[1]
local prio = tonumber(redis.call('HGET', KEYS[6], id) or '5')
local n = redis.call('HINCRBY', KEYS[5], id, 1)
if n > tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[7], now, id)
  redis.call('HDEL', KEYS[5], id)
  redis.call('HDEL', KEYS[6], id)
  return {id, prio, n}
end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), id)
redis.call('HSET', KEYS[4], id, ARGV[1])
return {id, prio, n}
"#;

/// ARGV: id, token, lease ms, priority. 1 = renewed, 2 = lease re-created (Redis had lost all
/// trace of the item: it restarted without persistence), 0 = lost (reaped, or another holder).
const RENEW: &str = r#"
local id, token = ARGV[1], ARGV[2]
local h = redis.call('HGET', KEYS[4], id)
if h == token then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), id)
  return 1
end
if (not h) and (not waiting(id)) and (not redis.call('ZSCORE', KEYS[7], id)) then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[3]), id)
  redis.call('HSET', KEYS[4], id, token)
  redis.call('HSETNX', KEYS[5], id, 1)
  redis.call('HSETNX', KEYS[6], id, ARGV[4])
  return 2
end
return 0
"#;

/// ARGV: id, token. Releases the lease when this holder has it.
const ACK: &str = r#"
local id = ARGV[1]
if redis.call('HGET', KEYS[4], id) ~= ARGV[2] then return 0 end
redis.call('ZREM', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
redis.call('HDEL', KEYS[5], id)
if not waiting(id) then redis.call('HDEL', KEYS[6], id) end
return 1
"#;

/// ARGV: id. Number of entries removed from `q`/`delayed`.
const REMOVE: &str = r#"
local id = ARGV[1]
local n = redis.call('ZREM', KEYS[1], id) + redis.call('ZREM', KEYS[2], id)
if n > 0 and not redis.call('HGET', KEYS[4], id) then
  redis.call('HDEL', KEYS[6], id)
  redis.call('HDEL', KEYS[5], id)
end
return n
"#;

/// No ARGV. {expired leases re-queued, delayed items made due}.
const REAP: &str = r#"
local expired, due = 0, 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  if not waiting(id) then enqueue(id) end
  expired = expired + 1
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 100)) do
  redis.call('ZREM', KEYS[2], id)
  enqueue(id)
  due = due + 1
end
return {expired, due}
"#;

/// ARGV: id, priority, mode (`queued` or `stale`), max deliveries. Pushes a store job Redis does
/// not know. A dead-lettered one comes back at the limit, so its next pop fails the job; a stale
/// `processing` one comes back as a redelivery (deliveries ≥ 1), which allows a takeover.
const RESYNC: &str = r#"
local id = ARGV[1]
if waiting(id) or redis.call('ZSCORE', KEYS[3], id) then return 0 end
if redis.call('ZSCORE', KEYS[7], id) then
  redis.call('ZREM', KEYS[7], id)
  redis.call('HSET', KEYS[5], id, ARGV[4])
elseif ARGV[3] == 'stale' then
  redis.call('HSETNX', KEYS[5], id, 1)
end
redis.call('HSET', KEYS[6], id, ARGV[2])
enqueue(id)
return 1
"#;

/// ARGV: owner, ms. 1 when this caller now holds the resync lock.
const LOCK: &str = r#"
if redis.call('SET', KEYS[9], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then return 1 end
return 0
"#;

/// Lease and dead-letter settings of a [`RedisQueue`].
#[derive(Debug, Clone)]
pub struct RedisQueueConfig {
    /// `LEASE_TTL_MS`: how long a pop leases an item.
    pub lease_ttl: Duration,
    /// `QUEUE_MAX_DELIVERIES`: deliveries before an item is dead-lettered.
    pub max_deliveries: u32,
    /// How often every process reaps expired leases and due delayed items.
    pub reap_interval: Duration,
    /// How often one process resyncs the store's queued jobs into Redis.
    pub resync_interval: Duration,
}

impl RedisQueueConfig {
    pub fn from_settings(s: &Settings) -> Self {
        RedisQueueConfig {
            lease_ttl: s.lease_ttl,
            max_deliveries: s.queue_max_deliveries,
            reap_interval: Duration::from_secs(1),
            resync_interval: Duration::from_secs(5),
        }
    }
}

struct Scripts {
    push: Script,
    pop: Script,
    renew: Script,
    ack: Script,
    remove: Script,
    reap: Script,
    resync: Script,
    lock: Script,
}

fn script(body: &str) -> Script {
    Script::from_lua(format!("{PRELUDE}{body}"))
}

/// What this process holds: id → (lease token, priority).
type Held = HashMap<String, (String, u8)>;

/// The queue on Redis. Cheap to share (`Arc`); one connection with fred's reconnect policy.
pub struct RedisQueue {
    client: Client,
    config: RedisQueueConfig,
    scripts: Scripts,
    held: Mutex<Held>,
    closed: AtomicBool,
    wake: Notify,
    /// Identifies this process as the resync lock's owner.
    instance: String,
}

fn backend(e: impl std::fmt::Display) -> QueueError {
    QueueError::Backend(format!("redis: {e}"))
}

/// A client with reconnects forever (100 ms doubling to 2 s) and a 5 s command timeout, so a
/// caller gets an error instead of waiting forever while Redis is away.
fn builder(url: &str) -> Result<Builder, QueueError> {
    let config = Config::from_url(url)
        .map_err(|e| QueueError::Backend(format!("REDIS_URL is not a valid redis:// URL: {e}")))?;
    let mut b = Builder::from_config(config);
    b.set_policy(ReconnectPolicy::new_exponential(0, 100, 2000, 2))
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(3);
            c.internal_command_timeout = Duration::from_secs(3);
        })
        .with_performance_config(|p| {
            p.default_command_timeout = Duration::from_secs(5);
        });
    Ok(b)
}

impl RedisQueue {
    /// Connects (fails when Redis cannot be reached now; later outages are reconnected).
    pub async fn connect(url: &str, config: RedisQueueConfig) -> Result<RedisQueue, QueueError> {
        let client = builder(url)?.build().map_err(backend)?;
        client.init().await.map_err(|e| {
            QueueError::Backend(format!("cannot connect to Redis at REDIS_URL: {e}"))
        })?;
        Ok(RedisQueue {
            client,
            config,
            scripts: Scripts {
                push: script(PUSH),
                pop: script(POP),
                renew: script(RENEW),
                ack: script(ACK),
                remove: script(REMOVE),
                reap: script(REAP),
                resync: script(RESYNC),
                lock: script(LOCK),
            },
            held: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            wake: Notify::new(),
            instance: uuid::Uuid::new_v4().to_string(),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn run<R: FromValue>(&self, s: &Script, args: Vec<String>) -> Result<R, QueueError> {
        // `evalsha_with_reload` loads the script again after a Redis restart (NOSCRIPT).
        s.evalsha_with_reload(&self.client, KEYS.to_vec(), args)
            .await
            .map_err(backend)
    }

    /// Moves expired leases and due delayed items to the waiting set: (expired, due).
    pub async fn reap(&self) -> Result<(i64, i64), QueueError> {
        self.run(&self.scripts.reap, vec![]).await
    }

    /// Ids in the dead-letter set.
    pub async fn dead(&self) -> Result<Vec<String>, QueueError> {
        self.client
            .zrange("vrender:dead", 0, -1, None, false, None, false)
            .await
            .map_err(backend)
    }

    /// Pushes the store's `queued` jobs that Redis does not know, and `processing` jobs that have
    /// neither a lease nor progress for two lease times as redeliveries. Returns how many.
    pub async fn resync(&self, jobs: &dyn JobStore) -> Result<usize, QueueError> {
        let lock_ms = self.config.resync_interval.as_millis().max(1000) as u64 - 500;
        let got: i64 = self
            .run(
                &self.scripts.lock,
                vec![self.instance.clone(), lock_ms.to_string()],
            )
            .await?;
        if got != 1 {
            return Ok(0);
        }
        let list = jobs
            .jobs_with_status(&[JobStatus::Queued, JobStatus::Processing])
            .await
            .map_err(|e| QueueError::Backend(format!("resync: {e}")))?;
        let stale_before = now_millis() - 2 * self.config.lease_ttl.as_millis() as i64;
        let mut pushed = 0;
        for job in list {
            let stale = job.updated_at < stale_before;
            // A job split into chunks: its open child tasks are the items (the parent's own item
            // was acked when it was split).
            let items: Vec<(String, &str)> = match (&job.state.status, &job.state.chunks) {
                (JobStatus::Processing, Some(plan)) => plan
                    .open_items(&job.job_id)
                    .into_iter()
                    .filter_map(|(id, running)| match (running, stale) {
                        (false, _) => Some((id, "queued")),
                        (true, true) => Some((id, "stale")),
                        (true, false) => None,
                    })
                    .collect(),
                (JobStatus::Queued, _) => vec![(job.job_id.clone(), "queued")],
                _ if stale => vec![(job.job_id.clone(), "stale")],
                _ => continue,
            };
            for (id, mode) in items {
                let n: i64 = self
                    .run(
                        &self.scripts.resync,
                        vec![
                            id.clone(),
                            job.spec.priority.to_string(),
                            mode.into(),
                            self.config.max_deliveries.to_string(),
                        ],
                    )
                    .await?;
                if n == 1 {
                    tracing::info!(job_id = %job.job_id, item = %id, mode, "resync: item was missing from Redis; pushed again");
                    pushed += 1;
                }
            }
        }
        Ok(pushed)
    }

    /// Starts the reaper (every `reap_interval`) and the resync (every `resync_interval`); they stop
    /// when the queue is closed.
    pub fn spawn_maintenance(self: &Arc<Self>, jobs: Arc<dyn JobStore>) {
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.config.reap_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !this.closed.load(Ordering::SeqCst) {
                tick.tick().await;
                match this.reap().await {
                    Ok((0, 0)) => {}
                    Ok((expired, due)) => {
                        tracing::info!(expired, due, "queue reaper: moved items back to waiting")
                    }
                    Err(e) => tracing::warn!(error = %e, "queue reaper failed"),
                }
            }
        });
        let this = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(this.config.resync_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !this.closed.load(Ordering::SeqCst) {
                tick.tick().await;
                if let Err(e) = this.resync(jobs.as_ref()).await {
                    tracing::warn!(error = %e, "queue resync failed");
                }
            }
        });
    }

    /// Tells every process subscribed with [`RedisQueue::subscribe_cancels`] that a job was cancelled.
    pub async fn publish_cancel(&self, job_id: &str) -> Result<(), QueueError> {
        let _: i64 = self
            .client
            .publish(CANCEL_CHANNEL, job_id)
            .await
            .map_err(backend)?;
        Ok(())
    }

    /// Calls `on_cancel` with every id published on the cancel channel, on a dedicated subscriber
    /// connection that re-subscribes after reconnects.
    pub async fn subscribe_cancels(
        &self,
        on_cancel: impl Fn(&str) + Send + Sync + 'static,
    ) -> Result<(), QueueError> {
        let config = self.client.client_config();
        let mut b = Builder::from_config(config);
        b.set_policy(ReconnectPolicy::new_exponential(0, 100, 2000, 2));
        let sub: SubscriberClient = b.build_subscriber_client().map_err(backend)?;
        sub.init().await.map_err(backend)?;
        let mut rx = sub.message_rx();
        sub.manage_subscriptions();
        sub.subscribe(CANCEL_CHANNEL).await.map_err(backend)?;
        tokio::spawn(async move {
            // Keep the client alive as long as the task runs.
            let _sub = sub;
            loop {
                match rx.recv().await {
                    Ok(msg) => match msg.value.as_string() {
                        Some(id) => on_cancel(&id),
                        None => tracing::warn!("cancel channel: message is not text"),
                    },
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "cancel channel: missed messages")
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        Ok(())
    }
}

#[async_trait]
impl Queue for RedisQueue {
    async fn push(&self, item: QueueItem, delay: Duration) -> Result<(), QueueError> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(QueueError::Closed);
        }
        let _: i64 = self
            .run(
                &self.scripts.push,
                vec![
                    item.job_id,
                    item.priority.to_string(),
                    delay.as_millis().to_string(),
                ],
            )
            .await?;
        Ok(())
    }

    async fn pop(&self) -> Result<Delivery, QueueError> {
        let mut backoff = Duration::from_millis(25);
        loop {
            if self.closed.load(Ordering::SeqCst) {
                return Err(QueueError::Closed);
            }
            let token = uuid::Uuid::new_v4().to_string();
            let got: Option<(String, i64, i64)> = self
                .run(
                    &self.scripts.pop,
                    vec![
                        token.clone(),
                        self.config.lease_ttl.as_millis().to_string(),
                        self.config.max_deliveries.to_string(),
                    ],
                )
                .await?;
            if let Some((job_id, priority, deliveries)) = got {
                let priority = priority.clamp(1, 10) as u8;
                self.held().insert(job_id.clone(), (token, priority));
                return Ok(Delivery {
                    item: QueueItem { job_id, priority },
                    deliveries: deliveries.clamp(1, u32::MAX as i64) as u32,
                });
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = self.wake.notified() => {}
            }
            backoff = (backoff * 2).min(Duration::from_millis(250));
        }
    }

    async fn renew(&self, job_id: &str) -> Result<bool, QueueError> {
        let Some((token, priority)) = self.held().get(job_id).cloned() else {
            return Ok(false);
        };
        let r: i64 = self
            .run(
                &self.scripts.renew,
                vec![
                    job_id.to_string(),
                    token,
                    self.config.lease_ttl.as_millis().to_string(),
                    priority.to_string(),
                ],
            )
            .await?;
        if r == 2 {
            tracing::warn!(
                job_id,
                "lease re-created: Redis had lost it (restarted without persistence?)"
            );
        }
        Ok(r != 0)
    }

    async fn ack(&self, job_id: &str) -> Result<(), QueueError> {
        let Some((token, _)) = self.held().remove(job_id) else {
            return Ok(());
        };
        let _: i64 = self
            .run(&self.scripts.ack, vec![job_id.to_string(), token])
            .await?;
        Ok(())
    }

    async fn remove(&self, job_id: &str) -> Result<bool, QueueError> {
        let n: i64 = self
            .run(&self.scripts.remove, vec![job_id.to_string()])
            .await?;
        Ok(n > 0)
    }

    async fn waiting(&self) -> Result<usize, QueueError> {
        let n: i64 = self.client.zcard(KEYS[0]).await.map_err(backend)?;
        Ok(n.max(0) as usize)
    }

    async fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
    }
}
