//! MCP sessions that sleep while idle.
//!
//! rmcp's `LocalSessionManager` keeps a worker task and about seven channels per session, some
//! 60 KB, for as long as the session lives, and a hosted server sees thousands of clients that
//! initialize and then sit idle for minutes. [`SleepingSessions`] wraps it: a session without
//! requests or open streams for `sleep_after` has its worker closed and keeps only the client's
//! `initialize` parameters (a few hundred bytes) in [`SessionRecords`]. Its next request wakes it
//! through rmcp's own restore path (the handshake is replayed server-side), so the client never
//! notices. A session without requests for `expire_after` is forgotten (404; the client
//! initializes again), as before.
//!
//! Invariant: a session's worker is only closed by the sweeper while the session is `Awake` with
//! no open stream; it is marked `FallingAsleep` until the worker's end is reported (rmcp calls
//! `close_session` when a worker ends), and a wake-up waits for that report, so the late report of
//! an old worker never closes a new one.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::Stream;
use rmcp::model::{ClientJsonRpcMessage, InitializeRequestParams, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError,
};
use rmcp::transport::streamable_http_server::session::{
    RestoreOutcome, ServerSseMessage, SessionId, SessionManager, SessionState, SessionStore,
    SessionStoreError,
};
use tokio_util::sync::CancellationToken;

/// Sessions whose `initialize` parameters are kept for waking; beyond this a new session still
/// works but stays awake until it ends.
const MAX_RECORDS: usize = 200_000;

/// How long a wake-up waits for the report that the sleeping worker has ended.
const WAKE_WAIT: Duration = Duration::from_secs(2);

/// When sessions sleep and when they are forgotten.
#[derive(Clone, Copy, Debug)]
pub struct SessionTimes {
    /// Without requests or open streams for this long, a session's worker is closed.
    pub sleep_after: Duration,
    /// Without requests for this long, a session is forgotten.
    pub expire_after: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Awake,
    /// The sweeper closed the worker; its end is not reported yet.
    FallingAsleep,
    Asleep,
}

#[derive(Debug)]
struct Record {
    /// Set once the handshake succeeded; a session without it cannot be woken.
    params: Option<InitializeRequestParams>,
    last_seen: Instant,
    open_streams: u32,
    phase: Phase,
}

impl Record {
    fn awake() -> Self {
        Self { params: None, last_seen: Instant::now(), open_streams: 0, phase: Phase::Awake }
    }
}

/// What is known of every live session, awake or asleep: rmcp's session store.
#[derive(Debug, Default)]
pub struct SessionRecords {
    records: Mutex<HashMap<SessionId, Record>>,
}

impl SessionRecords {
    fn lock(&self) -> MutexGuard<'_, HashMap<SessionId, Record>> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the session is known (awake or asleep); a known one counts as used now.
    pub fn touch_known(&self, id: &str) -> bool {
        let mut records = self.lock();
        records.get_mut(id).map(|record| record.last_seen = Instant::now()).is_some()
    }

    /// (awake, asleep) session counts.
    pub fn counts(&self) -> (usize, usize) {
        let records = self.lock();
        let awake = records.values().filter(|r| r.phase == Phase::Awake).count();
        (awake, records.len() - awake)
    }
}

#[async_trait::async_trait]
impl SessionStore for SessionRecords {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let mut records = self.lock();
        Ok(records.get_mut(session_id).and_then(|record| {
            record.last_seen = Instant::now();
            record.params.clone().map(SessionState::new)
        }))
    }

    async fn store(&self, session_id: &str, state: &SessionState) -> Result<(), SessionStoreError> {
        let mut records = self.lock();
        if records.len() > MAX_RECORDS {
            return Ok(());
        }
        if let Some(record) = records.get_mut(session_id) {
            record.params = Some(state.initialize_params.clone());
        }
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.lock().remove(session_id);
        Ok(())
    }
}

/// rmcp's local session manager, with idle sessions put to sleep.
#[derive(Debug)]
pub struct SleepingSessions {
    inner: LocalSessionManager,
    records: Arc<SessionRecords>,
}

impl SleepingSessions {
    /// Session manager and store (to be set as the rmcp config's `session_store`); a sweeper
    /// runs until `cancel` or until the manager is dropped.
    pub fn new(times: SessionTimes, cancel: CancellationToken) -> (Arc<Self>, Arc<SessionRecords>) {
        let mut inner = LocalSessionManager::default();
        // rmcp's own idle timeout stays as the safety net for sessions that never sleep (an open
        // stream that was silently dropped); it also ends them.
        inner.session_config.keep_alive = Some(times.expire_after);
        let records = Arc::new(SessionRecords::default());
        let sessions = Arc::new(Self { inner, records: records.clone() });
        tokio::spawn(sweep(Arc::downgrade(&sessions), times, cancel));
        (sessions, records)
    }

    fn not_found(id: &SessionId) -> LocalSessionManagerError {
        LocalSessionManagerError::SessionNotFound(id.clone())
    }

    fn touch(&self, id: &SessionId) {
        if let Some(record) = self.records.lock().get_mut(id) {
            record.last_seen = Instant::now();
        }
    }

    /// Counts a stream as open on an awake session; its guard counts it closed.
    fn open_stream(&self, id: &SessionId) -> Result<StreamGuard, LocalSessionManagerError> {
        let mut records = self.records.lock();
        match records.get_mut(id) {
            Some(record) if record.phase == Phase::Awake => {
                record.open_streams += 1;
                record.last_seen = Instant::now();
                Ok(StreamGuard { records: Arc::downgrade(&self.records), id: id.clone() })
            }
            _ => Err(Self::not_found(id)),
        }
    }

    /// Puts idle sessions to sleep and forgets expired ones.
    async fn sweep_once(&self, times: SessionTimes) {
        let now = Instant::now();
        let mut falling_asleep = Vec::new();
        self.records.lock().retain(|id, record| {
            let idle = now.saturating_duration_since(record.last_seen);
            match record.phase {
                Phase::Awake
                    if record.open_streams == 0
                        && record.params.is_some()
                        && idle >= times.sleep_after =>
                {
                    record.phase = Phase::FallingAsleep;
                    falling_asleep.push(id.clone());
                    true
                }
                Phase::Asleep => idle < times.expire_after,
                _ => true,
            }
        });
        for id in falling_asleep {
            if let Err(error) = self.inner.close_session(&id).await {
                tracing::debug!(%error, "closing an idle session's worker");
            }
        }
    }
}

async fn sweep(sessions: Weak<SleepingSessions>, times: SessionTimes, cancel: CancellationToken) {
    let every = (times.sleep_after / 12).clamp(Duration::from_millis(250), Duration::from_secs(5));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(sessions) = sessions.upgrade() else { return };
        sessions.sweep_once(times).await;
    }
}

/// Counts a stream closed when the response stream is dropped (finished or abandoned).
#[derive(Debug)]
struct StreamGuard {
    records: Weak<SessionRecords>,
    id: SessionId,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let Some(records) = self.records.upgrade() else { return };
        if let Some(record) = records.lock().get_mut(&self.id) {
            record.open_streams = record.open_streams.saturating_sub(1);
            record.last_seen = Instant::now();
        }
    }
}

/// A response stream that keeps its session awake while open.
struct Tracked<S> {
    stream: S,
    _guard: StreamGuard,
}

impl<S: Stream + Unpin> Stream for Tracked<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.stream).poll_next(cx)
    }
}

impl SessionManager for SleepingSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.inner.create_session().await?;
        self.records.lock().insert(id.clone(), Record::awake());
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.touch(id);
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        let mut records = self.records.lock();
        Ok(match records.get_mut(id) {
            // Touched here so the sweeper cannot pick it between this check and the request.
            Some(record) if record.phase == Phase::Awake => {
                record.last_seen = Instant::now();
                true
            }
            _ => false,
        })
    }

    /// Called for DELETE and by rmcp whenever a session's worker ends.
    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let result = self.inner.close_session(id).await;
        let mut records = self.records.lock();
        if let Some(record) = records.get_mut(id) {
            if record.params.is_some() {
                record.phase = Phase::Asleep;
                record.open_streams = 0;
            } else {
                records.remove(id);
            }
        }
        result
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let guard = self.open_stream(id)?;
        let stream = self.inner.create_stream(id, message).await?;
        Ok(Tracked { stream: Box::pin(stream), _guard: guard })
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.touch(id);
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let guard = self.open_stream(id)?;
        let stream = self.inner.create_standalone_stream(id).await?;
        Ok(Tracked { stream: Box::pin(stream), _guard: guard })
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let guard = self.open_stream(id)?;
        let stream = self.inner.resume(id, last_event_id).await?;
        Ok(Tracked { stream: Box::pin(stream), _guard: guard })
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let deadline = Instant::now() + WAKE_WAIT;
        loop {
            let phase = self.records.lock().get(&id).map(|r| r.phase);
            match phase {
                None => return Ok(RestoreOutcome::NotSupported),
                Some(Phase::FallingAsleep) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                Some(_) => break,
            }
        }
        // A worker whose end was never reported is closed now, not later under the new one.
        self.inner.close_session(&id).await?;
        let outcome = self.inner.restore_session(id.clone()).await?;
        if matches!(outcome, RestoreOutcome::Restored(_)) {
            let mut records = self.records.lock();
            if let Some(record) = records.get_mut(&id) {
                record.phase = Phase::Awake;
                record.open_streams = 0;
                record.last_seen = Instant::now();
            }
        }
        Ok(outcome)
    }
}
