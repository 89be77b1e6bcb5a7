//! MCP sessions that cost what they hold.
//!
//! rmcp's `LocalSessionManager` keeps a worker task and about seven channels per session, some
//! 70 KB, for as long as the session lives, and a hosted server sees thousands of clients that
//! initialize and then sit idle. [`SleepingSessions`] wraps it so that a session keeps a worker
//! only while something needs one: a request being answered, a POST stream open, a request of the
//! server waiting for the client's answer, and a grace of `sleep_after` after the last request
//! (so a busy client does not wake its session at every call). A session that only did its
//! handshake sleeps as the handshake ends. Asleep, a session keeps the client's
//! `initialize` parameters (a few hundred bytes) in [`SessionRecords`]; its next request wakes
//! it through rmcp's own restore path (the handshake is replayed server-side), so the client
//! never notices. A session without requests for `expire_after` is forgotten (404).
//!
//! What a sleeping worker would have lost is kept here instead: [`SessionRecords`] is also rmcp's
//! `EventStore`, so every SSE event of a session (its POST streams and its standalone stream)
//! is logged with an id we assign, for [`REPLAY_WINDOW`] after its stream ended. A client whose
//! stream broke resumes it with `Last-Event-ID` (the log replays what followed, then follows the
//! stream live until its answer), awake or asleep. The standalone GET stream is served from the
//! log too, so an open GET stream needs no worker: whatever a woken worker sends there reaches it.
//!
//! Invariant: a session's worker is only closed by the sweeper while the session is `Awake` and
//! idle; it is marked `FallingAsleep` until the worker's end is reported (rmcp calls
//! `close_session` when a worker ends), and a wake-up waits for that report, so the late report of
//! an old worker never closes a new one. A woken session is `Waking` until its handshake is replayed:
//! requests meanwhile wait for rmcp's restore instead of reaching a worker that expects `initialize`.
//! A stream's events are replayed only in the session that owns the stream.

use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::{Stream, StreamExt};
use rmcp::model::{
    ClientJsonRpcMessage, ClientNotification, GetExtensions, InitializeRequestParams,
    JsonRpcMessage, RequestId, ServerJsonRpcMessage,
};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionError,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, EventStoreError, EventStream, RestoreOutcome, ServerSseMessage, SessionId,
    SessionManager, SessionRestoreMarker, SessionState, SessionStore, SessionStoreError,
};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Sessions whose `initialize` parameters are kept for waking; beyond this a new session still
/// works but stays awake until it ends.
const MAX_RECORDS: usize = 200_000;

/// How long a wake-up waits for the report that the sleeping worker has ended.
const WAKE_WAIT: Duration = Duration::from_secs(2);

/// How long a finished stream's events stay replayable (rmcp keeps its own as long).
pub const REPLAY_WINDOW: Duration = Duration::from_secs(60);

/// Events kept per stream: a long call's progress notifications beyond this lose their oldest.
const MAX_EVENTS_PER_STREAM: usize = 256;

/// A request is in flight from `has_session` to its stream or message: no sleep in between.
const REQUEST_GRACE: Duration = Duration::from_millis(100);

/// How long a request that passed `has_session` counts as on its way to the worker.
const ON_THEIR_WAY: Duration = Duration::from_secs(1);

/// How often idle sessions are looked for (asleep ones and logs are swept less often).
const SWEEP_EVERY: Duration = Duration::from_millis(100);
const SLOW_SWEEP_EVERY: u32 = 20;

/// How long a new POST stream's first event (its priming event) is waited for, to learn which
/// log is that stream's.
const FIRST_EVENT_WAIT: Duration = Duration::from_secs(1);

/// When sessions sleep and when they are forgotten.
#[derive(Clone, Copy, Debug)]
pub struct SessionTimes {
    /// A session without running requests or open POST streams for this long after its last
    /// request has its worker closed (right after the handshake, it need not wait).
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
    /// A new worker is there, but the handshake is not replayed yet: requests wait for the
    /// restore (rmcp serialises them) instead of reaching a worker that expects `initialize`.
    Waking,
}

#[derive(Debug)]
struct Record {
    /// Set once the handshake succeeded; a session without it cannot be woken.
    params: Option<InitializeRequestParams>,
    last_seen: Instant,
    /// Not asleep before this: the grace after a request, or a request on its way in.
    awake_until: Instant,
    /// POST streams being read by the client.
    open_streams: u32,
    /// POST streams whose answer has not been sent yet (the client may have gone away).
    unanswered: u32,
    /// Requests the server sent on the standalone stream, waiting for the client's answer.
    awaiting: HashSet<RequestId>,
    phase: Phase,
    /// Its standalone stream's log, once something was sent there.
    common: Option<u64>,
    /// The GET stream that receives the standalone stream live; later ones only keep alive.
    listener: Option<u64>,
    /// Its streams' logs (some may be gone already).
    streams: Vec<u64>,
    /// Requests that passed `has_session` and have not reached the worker yet (counted for a
    /// second at most: one refused in between, for its protocol version, never arrives).
    on_their_way: u32,
    last_check: Instant,
    /// Messages being handed to the worker.
    delivering: u32,
}

impl Record {
    fn new(now: Instant) -> Self {
        Self {
            params: None,
            last_seen: now,
            awake_until: now + REQUEST_GRACE,
            open_streams: 0,
            unanswered: 0,
            awaiting: HashSet::new(),
            phase: Phase::Awake,
            common: None,
            listener: None,
            streams: Vec::new(),
            on_their_way: 0,
            last_check: now,
            delivering: 0,
        }
    }

    fn seen(&mut self, now: Instant) {
        self.last_seen = now;
        self.awake_until = self.awake_until.max(now + REQUEST_GRACE);
    }

    fn can_sleep(&self, now: Instant) -> bool {
        self.idle() && now >= self.awake_until
    }

    /// Nothing of it runs: no open POST stream, no unanswered request either way, no message
    /// being delivered.
    fn idle(&self) -> bool {
        self.phase == Phase::Awake
            && self.params.is_some()
            && self.open_streams == 0
            && self.unanswered == 0
            && self.delivering == 0
            && self.awaiting.is_empty()
    }

    /// A request that passed `has_session` reached the session.
    fn arrived(&mut self) {
        self.on_their_way = self.on_their_way.saturating_sub(1);
    }

    fn requests_on_their_way(&self, now: Instant) -> bool {
        self.on_their_way > 0 && now.saturating_duration_since(self.last_check) < ON_THEIR_WAY
    }
}

/// The events of one SSE stream, as long as they may be replayed.
#[derive(Debug)]
struct StreamLog {
    /// rmcp's name of the stream (a UUID, or `{session}:common`).
    key: String,
    /// The session that owns it: set for a standalone stream by its name, for a POST stream
    /// when its first event is seen.
    session: Option<SessionId>,
    common: bool,
    /// Whether its session counts it in `unanswered`.
    counted: bool,
    events: VecDeque<(u64, ServerSseMessage)>,
    next_index: u64,
    /// A POST stream ends with its answer; a standalone stream never does.
    ended_at: Option<Instant>,
    last_event: Instant,
    /// `next_index`, for the replays following the stream live.
    appended: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct State {
    sessions: HashMap<SessionId, Record>,
    awake: HashSet<SessionId>,
    streams: HashMap<u64, StreamLog>,
    /// rmcp's stream names to our stream numbers.
    numbers: HashMap<String, u64>,
    next_number: u64,
    next_listener: u64,
}

impl State {
    fn set_phase(&mut self, id: &SessionId, phase: Phase) {
        if let Some(record) = self.sessions.get_mut(id) {
            record.phase = phase;
            if phase == Phase::Awake {
                self.awake.insert(id.clone());
            } else {
                self.awake.remove(id);
            }
        }
    }

    fn remove_session(&mut self, id: &str) {
        self.awake.remove(id);
        if let Some(record) = self.sessions.remove(id) {
            for number in record.streams {
                self.remove_stream(number);
            }
        }
    }

    fn remove_stream(&mut self, number: u64) {
        if let Some(log) = self.streams.remove(&number) {
            self.numbers.remove(&log.key);
        }
    }

    /// The log of rmcp's stream `key`, created at its first event.
    fn log_for(&mut self, key: &str, now: Instant) -> u64 {
        if let Some(number) = self.numbers.get(key) {
            return *number;
        }
        let number = self.next_number;
        self.next_number += 1;
        let session = key.strip_suffix(":common").map(SessionId::from);
        let common = session.is_some();
        if let Some(record) = session.as_ref().and_then(|id| self.sessions.get_mut(id)) {
            record.common = Some(number);
            record.streams.push(number);
        }
        self.numbers.insert(key.to_owned(), number);
        self.streams.insert(
            number,
            StreamLog {
                key: key.to_owned(),
                session,
                common,
                counted: false,
                events: VecDeque::new(),
                next_index: 0,
                ended_at: None,
                last_event: now,
                appended: watch::Sender::new(0),
            },
        );
        number
    }

    /// Ends the POST streams of a session whose worker is gone: their answers will never come.
    fn end_streams_of(&mut self, id: &SessionId, now: Instant) {
        let Some(record) = self.sessions.get_mut(id) else { return };
        record.unanswered = 0;
        record.awaiting.clear();
        for number in &record.streams {
            if let Some(log) = self.streams.get_mut(number)
                && !log.common
                && log.ended_at.is_none()
            {
                log.ended_at = Some(now);
                log.counted = false;
                log.appended.send_replace(log.next_index);
            }
        }
    }
}

/// What is known of every live session, awake or asleep, and the events of their streams:
/// rmcp's session store and event store.
#[derive(Debug, Default)]
pub struct SessionRecords {
    state: Mutex<State>,
}

impl SessionRecords {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; keep serving.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the session is known (awake or asleep); a known one counts as used now.
    pub fn touch_known(&self, id: &str) -> bool {
        let mut state = self.lock();
        state.sessions.get_mut(id).map(|record| record.last_seen = Instant::now()).is_some()
    }

    /// (awake, asleep) session counts.
    pub fn counts(&self) -> (usize, usize) {
        let state = self.lock();
        let awake = state.awake.len();
        (awake, state.sessions.len() - awake)
    }

    /// Events of stream `number` from `from` on, live until the stream ends (or, for a
    /// standalone stream, until its session does).
    fn follow(self: &Arc<Self>, number: u64, from: u64) -> Option<Follow> {
        let state = self.lock();
        let log = state.streams.get(&number)?;
        Some(Follow {
            records: Arc::downgrade(self),
            number,
            next: from,
            buffered: VecDeque::new(),
            appended: tokio_util::sync::ReusableBoxFuture::new(changed(log.appended.subscribe())),
            done: false,
        })
    }
}

#[async_trait::async_trait]
impl SessionStore for SessionRecords {
    async fn load(&self, session_id: &str) -> Result<Option<SessionState>, SessionStoreError> {
        let mut state = self.lock();
        Ok(state.sessions.get_mut(session_id).and_then(|record| {
            record.seen(Instant::now());
            record.params.clone().map(SessionState::new)
        }))
    }

    async fn store(
        &self,
        session_id: &str,
        session: &SessionState,
    ) -> Result<(), SessionStoreError> {
        let mut state = self.lock();
        if state.sessions.len() > MAX_RECORDS {
            return Ok(());
        }
        if let Some(record) = state.sessions.get_mut(session_id) {
            record.params = Some(session.initialize_params.clone());
        }
        Ok(())
    }

    async fn delete(&self, session_id: &str) -> Result<(), SessionStoreError> {
        self.lock().remove_session(session_id);
        Ok(())
    }
}

#[async_trait::async_trait]
impl EventStore for SessionRecords {
    async fn store_event(
        &self,
        stream_id: &str,
        event: &ServerSseMessage,
    ) -> Result<String, EventStoreError> {
        let now = Instant::now();
        let mut state = self.lock();
        let number = state.log_for(stream_id, now);
        let Some(log) = state.streams.get_mut(&number) else {
            return Err("the stream's log is gone".into());
        };
        let index = log.next_index;
        log.next_index += 1;
        let id = format!("{number}.{index}");
        let mut kept = event.clone();
        kept.event_id = Some(id.clone());
        if log.events.len() >= MAX_EVENTS_PER_STREAM {
            log.events.pop_front();
        }
        log.events.push_back((index, kept));
        log.last_event = now;
        let (common, session) = (log.common, log.session.clone());
        let mut answered = false;
        match event.message.as_deref() {
            Some(JsonRpcMessage::Response(_) | JsonRpcMessage::Error(_)) if !common => {
                log.ended_at = Some(now);
                answered = std::mem::take(&mut log.counted);
            }
            _ => {}
        }
        log.appended.send_replace(log.next_index);
        if let Some(record) = session.as_ref().and_then(|id| state.sessions.get_mut(id)) {
            if answered {
                record.unanswered = record.unanswered.saturating_sub(1);
            }
            if let (true, Some(JsonRpcMessage::Request(request))) =
                (common, event.message.as_deref())
            {
                record.awaiting.insert(request.id.clone());
            }
        }
        Ok(id)
    }

    /// Replays go through [`SleepingSessions::resume`], which checks whose stream it is.
    async fn replay_events_after(
        &self,
        _last_event_id: &str,
    ) -> Result<EventStream, EventStoreError> {
        Err("replays are served by the session manager".into())
    }
}

async fn changed(mut appended: watch::Receiver<u64>) -> (bool, watch::Receiver<u64>) {
    let open = appended.changed().await.is_ok();
    (open, appended)
}

/// A stream's logged events from some index on, then live ones until it ends.
struct Follow {
    records: Weak<SessionRecords>,
    number: u64,
    next: u64,
    buffered: VecDeque<ServerSseMessage>,
    appended: tokio_util::sync::ReusableBoxFuture<'static, (bool, watch::Receiver<u64>)>,
    done: bool,
}

impl Follow {
    /// Takes what the log has from `next` on; whether the stream can still grow.
    fn take_logged(&mut self) -> bool {
        let Some(records) = self.records.upgrade() else { return false };
        let state = records.lock();
        let Some(log) = state.streams.get(&self.number) else { return false };
        for (index, event) in &log.events {
            if *index >= self.next {
                self.buffered.push_back(event.clone());
            }
        }
        self.next = self.next.max(log.next_index);
        log.ended_at.is_none()
    }
}

impl Stream for Follow {
    type Item = ServerSseMessage;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ServerSseMessage>> {
        loop {
            if let Some(event) = self.buffered.pop_front() {
                return Poll::Ready(Some(event));
            }
            if self.done {
                return Poll::Ready(None);
            }
            let growing = self.take_logged();
            if !self.buffered.is_empty() {
                continue;
            }
            if !growing {
                self.done = true;
                continue;
            }
            // The watch marks what was seen: an event appended after `take_logged` above makes
            // this ready at once, so none is missed.
            let (open, receiver) = std::task::ready!(self.appended.poll(cx));
            self.appended.set(changed(receiver));
            if !open {
                self.take_logged();
                self.done = true;
            }
        }
    }
}

type BoxedEvents = Pin<Box<dyn Stream<Item = ServerSseMessage> + Send + Sync>>;

/// A response stream holding a guard for as long as it is open: a POST stream keeps its session
/// awake ([`StreamGuard`]), a GET stream its session's `listener` slot ([`ListenerSlot`]).
struct Guarded<S, G> {
    stream: S,
    _guard: G,
}

impl<S: Stream + Unpin, G: Unpin> Stream for Guarded<S, G> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.stream).poll_next(cx)
    }
}

struct ListenerSlot {
    records: Weak<SessionRecords>,
    id: SessionId,
    listener: u64,
}

impl Drop for ListenerSlot {
    fn drop(&mut self) {
        let Some(records) = self.records.upgrade() else { return };
        let mut state = records.lock();
        if let Some(record) = state.sessions.get_mut(&self.id)
            && record.listener == Some(self.listener)
        {
            record.listener = None;
        }
    }
}

/// rmcp's local session manager, with idle sessions put to sleep.
#[derive(Debug)]
pub struct SleepingSessions {
    inner: LocalSessionManager,
    records: Arc<SessionRecords>,
    sleep_after: Duration,
    /// Checked again on waking: the slow sweep forgets expired sessions only every few seconds.
    expire_after: Duration,
}

impl SleepingSessions {
    /// Session manager and store (to be set as the rmcp config's `session_store`); a sweeper
    /// runs until `cancel` or until the manager is dropped.
    pub fn new(times: SessionTimes, cancel: CancellationToken) -> (Arc<Self>, Arc<SessionRecords>) {
        let records = Arc::new(SessionRecords::default());
        let mut inner = LocalSessionManager::default().with_event_store(records.clone());
        // rmcp's own idle timeout stays as the safety net for sessions that never sleep; it
        // also ends them.
        inner.session_config.keep_alive = Some(times.expire_after);
        // Finished streams are replayed from our log, not from the worker's cache.
        inner.session_config.completed_cache_ttl = Duration::ZERO;
        // Every POST stream starts with a priming event: its id tells whose stream it is.
        inner.session_config.sse_retry =
            inner.session_config.sse_retry.or(Some(Duration::from_secs(3)));
        let sessions = Arc::new(Self {
            inner,
            records: records.clone(),
            sleep_after: times.sleep_after,
            expire_after: times.expire_after,
        });
        tokio::spawn(sweep(Arc::downgrade(&sessions), times, cancel));
        (sessions, records)
    }

    fn not_found(id: &SessionId) -> LocalSessionManagerError {
        LocalSessionManagerError::SessionNotFound(id.clone())
    }

    fn touch(&self, id: &SessionId) {
        if let Some(record) = self.records.lock().sessions.get_mut(id) {
            record.seen(Instant::now());
        }
    }

    /// Counts a POST stream as open on an awake session; its guard counts it closed.
    fn open_stream(&self, id: &SessionId) -> Result<StreamGuard, LocalSessionManagerError> {
        let mut state = self.records.lock();
        match state.sessions.get_mut(id) {
            Some(record) if record.phase == Phase::Awake => {
                record.arrived();
                record.open_streams += 1;
                record.seen(Instant::now());
                Ok(StreamGuard {
                    records: Arc::downgrade(&self.records),
                    id: id.clone(),
                    sleep_after: self.sleep_after,
                })
            }
            _ => Err(Self::not_found(id)),
        }
    }

    /// Makes `id` the owner of the stream whose event `event_id` is, and counts the stream as
    /// unanswered until its answer is logged.
    fn claim_stream(&self, id: &SessionId, event_id: Option<&str>) {
        let Some(number) = event_id.and_then(parse_event_id).map(|(n, _)| n) else { return };
        let mut state = self.records.lock();
        let Some(log) = state.streams.get_mut(&number) else { return };
        if log.common || log.session.is_some() {
            return;
        }
        log.session = Some(id.clone());
        let unanswered = log.ended_at.is_none();
        log.counted = unanswered;
        if let Some(record) = state.sessions.get_mut(id) {
            record.streams.push(number);
            if unanswered {
                record.unanswered += 1;
            }
        }
    }

    /// The standalone stream of session `id` from log index `from` on, live; a shadow (keep-alive
    /// only) while another GET stream is the live one, as rmcp does.
    fn standalone(
        &self,
        id: &SessionId,
        from: Option<u64>,
    ) -> Result<Guarded<BoxedEvents, ListenerSlot>, LocalSessionManagerError> {
        let mut state = self.records.lock();
        let listener = state.next_listener;
        state.next_listener += 1;
        let now = Instant::now();
        let Some(record) = state.sessions.get_mut(id) else { return Err(Self::not_found(id)) };
        record.seen(now);
        record.arrived();
        if record.listener.is_some() {
            let slot = ListenerSlot { records: Weak::new(), id: id.clone(), listener };
            return Ok(Guarded { stream: Box::pin(futures_util::stream::pending()), _guard: slot });
        }
        record.listener = Some(listener);
        let common = record.common;
        let number = match common {
            Some(number) => number,
            None => state.log_for(&format!("{id}:common"), now),
        };
        // A new stream starts at the present; a resumed one where the client left off.
        let from = match from {
            Some(from) => from,
            None => state.streams.get(&number).map_or(0, |log| log.next_index),
        };
        drop(state);
        let slot =
            ListenerSlot { records: Arc::downgrade(&self.records), id: id.clone(), listener };
        let stream = self.records.follow(number, from).ok_or_else(|| Self::not_found(id))?;
        Ok(Guarded { stream: Box::pin(stream), _guard: slot })
    }

    /// Puts idle sessions to sleep; every `slow` sweeps also forgets expired sessions and the
    /// logs past their window.
    async fn sweep_once(&self, times: SessionTimes, slow: bool) {
        let now = Instant::now();
        let mut falling_asleep = Vec::new();
        {
            let mut state = self.records.lock();
            let state = &mut *state;
            for id in &state.awake {
                if state.sessions.get(id).is_some_and(|r| r.can_sleep(now)) {
                    falling_asleep.push(id.clone());
                }
            }
            for id in &falling_asleep {
                state.set_phase(id, Phase::FallingAsleep);
            }
            if slow {
                let expired: Vec<SessionId> = state
                    .sessions
                    .iter()
                    .filter(|(_, r)| {
                        r.phase == Phase::Asleep
                            && now.saturating_duration_since(r.last_seen) >= times.expire_after
                    })
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in expired {
                    state.remove_session(&id);
                }
                let stale: Vec<u64> = state
                    .streams
                    .iter()
                    .filter(|(_, log)| {
                        let owner_gone =
                            log.session.as_ref().is_some_and(|s| !state.sessions.contains_key(s));
                        let past = |at: Instant| now.saturating_duration_since(at) >= REPLAY_WINDOW;
                        owner_gone
                            || log.ended_at.is_some_and(past)
                            || (log.session.is_none() && past(log.last_event))
                    })
                    .map(|(n, _)| *n)
                    .collect();
                for number in stale {
                    state.remove_stream(number);
                }
                // A standalone stream quiet for the window has nothing left to replay.
                for log in state.streams.values_mut().filter(|log| log.common) {
                    if now.saturating_duration_since(log.last_event) >= REPLAY_WINDOW {
                        log.events.clear();
                    }
                }
                let streams = &state.streams;
                for record in state.sessions.values_mut() {
                    record.streams.retain(|n| streams.contains_key(n));
                }
            }
        }
        for id in falling_asleep {
            if let Err(error) = self.inner.close_session(&id).await {
                tracing::debug!(%error, "closing an idle session's worker");
            }
        }
    }
}

/// `{stream}.{index}`, as [`SessionRecords::store_event`] makes them.
fn parse_event_id(id: &str) -> Option<(u64, u64)> {
    let (number, index) = id.split_once('.')?;
    Some((number.parse().ok()?, index.parse().ok()?))
}

async fn sweep(sessions: Weak<SleepingSessions>, times: SessionTimes, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(SWEEP_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut count = 0u32;
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(sessions) = sessions.upgrade() else { return };
        count = count.wrapping_add(1);
        sessions.sweep_once(times, count.is_multiple_of(SLOW_SWEEP_EVERY)).await;
    }
}

/// Counts a POST stream closed when it is dropped (finished or abandoned); the session then
/// stays awake for the grace.
#[derive(Debug)]
struct StreamGuard {
    records: Weak<SessionRecords>,
    id: SessionId,
    sleep_after: Duration,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let Some(records) = self.records.upgrade() else { return };
        if let Some(record) = records.lock().sessions.get_mut(&self.id) {
            let now = Instant::now();
            record.open_streams = record.open_streams.saturating_sub(1);
            record.last_seen = now;
            record.awake_until = record.awake_until.max(now + self.sleep_after);
        }
    }
}

impl SessionManager for SleepingSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        let (id, transport) = self.inner.create_session().await?;
        let mut state = self.records.lock();
        state.sessions.insert(id.clone(), Record::new(Instant::now()));
        state.awake.insert(id.clone());
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.touch(id);
        let answer = self.inner.initialize_session(id, message).await?;
        let mut state = self.records.lock();
        if state.sessions.get(id).is_some_and(|r| r.phase == Phase::Waking) {
            state.set_phase(id, Phase::Awake);
        }
        Ok(answer)
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        let mut state = self.records.lock();
        Ok(match state.sessions.get_mut(id) {
            // Marked in flight, so the sweeper cannot pick it between this check and the request.
            Some(record) if record.phase == Phase::Awake => {
                let now = Instant::now();
                record.seen(now);
                record.on_their_way = record.on_their_way.saturating_add(1);
                record.last_check = now;
                true
            }
            _ => false,
        })
    }

    /// Called for DELETE and by rmcp whenever a session's worker ends.
    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        let result = self.inner.close_session(id).await;
        let mut state = self.records.lock();
        let now = Instant::now();
        state.end_streams_of(id, now);
        match state.sessions.get_mut(id) {
            Some(record) if record.params.is_some() => {
                record.open_streams = 0;
                state.set_phase(id, Phase::Asleep);
            }
            Some(_) => state.remove_session(id),
            None => {}
        }
        result
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let guard = self.open_stream(id)?;
        let mut stream = Box::pin(self.inner.create_stream(id, message).await?);
        // The priming event is queued before rmcp hands the stream over: its id is in the
        // stream's log, which this claims for the session.
        let first = tokio::time::timeout(FIRST_EVENT_WAIT, stream.next()).await.ok().flatten();
        self.claim_stream(id, first.as_ref().and_then(|e| e.event_id.as_deref()));
        let stream = futures_util::stream::iter(first).chain(stream);
        Ok(Guarded { stream: Box::pin(stream), _guard: guard })
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        // The client's answer to a request the server sent on the standalone stream.
        let answered = match &message {
            JsonRpcMessage::Response(response) => Some(response.id.clone()),
            JsonRpcMessage::Error(error) => error.id.clone(),
            _ => None,
        };
        // The end of a client's own handshake (not of a replayed one, which wakes the session for
        // a request): a session that has only done its handshake needs no worker.
        let (initialized, replayed) = match &message {
            JsonRpcMessage::Notification(n) => (
                matches!(n.notification, ClientNotification::InitializedNotification(_)),
                n.notification.extensions().get::<SessionRestoreMarker>().is_some(),
            ),
            _ => (false, false),
        };
        let handshake_done = initialized && !replayed;
        if let Some(record) = self.records.lock().sessions.get_mut(id) {
            if !replayed {
                record.arrived();
            }
            record.delivering += 1;
        }
        let delivered = self.inner.accept_message(id, message).await;
        let sleep_now = {
            let mut state = self.records.lock();
            let Some(record) = state.sessions.get_mut(id) else { return delivered };
            let now = Instant::now();
            record.delivering = record.delivering.saturating_sub(1);
            record.seen(now);
            if let Some(answered) = answered {
                record.awaiting.remove(&answered);
            }
            // Not while another request is on its way to this worker; one that checks later
            // finds the session falling asleep and wakes it.
            let sleep_now = delivered.is_ok()
                && handshake_done
                && !record.requests_on_their_way(now)
                && record.idle()
                && record.streams.is_empty();
            if sleep_now {
                state.set_phase(id, Phase::FallingAsleep);
            }
            sleep_now
        };
        if sleep_now && let Err(error) = self.inner.close_session(id).await {
            tracing::debug!(%error, "closing the worker of a session after its handshake");
        }
        delivered
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.standalone(id, None)
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        let invalid = || LocalSessionManagerError::SessionError(SessionError::InvalidEventId);
        let Some((number, index)) = parse_event_id(&last_event_id) else {
            // rmcp's own priming id of a GET stream ("0"): nothing was received yet.
            let from = {
                let state = self.records.lock();
                let record = state.sessions.get(id).ok_or_else(|| Self::not_found(id))?;
                record
                    .common
                    .and_then(|n| state.streams.get(&n))
                    .and_then(|log| log.events.front().map(|(i, _)| *i))
            };
            return self
                .standalone(id, Some(from.unwrap_or(0)))
                .map(futures_util::future::Either::Left);
        };
        let common = {
            let state = self.records.lock();
            let log = state.streams.get(&number).ok_or_else(invalid)?;
            if log.session.as_ref() != Some(id) {
                return Err(invalid());
            }
            log.common
        };
        self.touch(id);
        if common {
            return self.standalone(id, Some(index + 1)).map(futures_util::future::Either::Left);
        }
        let follow = self.records.follow(number, index + 1).ok_or_else(invalid)?;
        Ok(futures_util::future::Either::Right(follow))
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        let deadline = Instant::now() + WAKE_WAIT;
        loop {
            let phase = {
                let mut state = self.records.lock();
                let now = Instant::now();
                let expired = state.sessions.get(&id).is_some_and(|r| {
                    r.phase == Phase::Asleep
                        && now.saturating_duration_since(r.last_seen) >= self.expire_after
                });
                if expired {
                    state.remove_session(&id);
                }
                state.sessions.get(&id).map(|r| r.phase)
            };
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
            let mut state = self.records.lock();
            state.set_phase(&id, Phase::Waking);
            if let Some(record) = state.sessions.get_mut(&id) {
                record.open_streams = 0;
                record.seen(Instant::now());
            }
        }
        Ok(outcome)
    }
}
