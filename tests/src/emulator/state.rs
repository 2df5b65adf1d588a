//! State shared by every connection of one emulator: its credentials, the knobs tests turn,
//! what was recorded, and the tasks to abort when the emulator is dropped.
use super::credentials::{AuthorizedUser, KnownAccount};
use super::metadata::METADATA_SUBJECT;
use super::record::Records;
use super::tokens::{TokenBehaviour, TokenStore};
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::task::JoinSet;

/// Settings tests may change while the emulator runs.
pub(crate) struct Controls {
    pub token_behaviour: TokenBehaviour,
    pub token_lifetime_s: u64,
    pub expires_in_as_string: bool,
    /// Canned answers for the next Vertex REST requests that pass every check.
    pub vertex_overrides: VecDeque<(u16, serde_json::Value)>,
    /// (project, location) pairs whose quota is spent: their model calls get 429.
    pub exhausted: Vec<(String, String)>,
}

pub(crate) struct Shared {
    pub accounts: Vec<KnownAccount>,
    pub authorized_users: Vec<AuthorizedUser>,
    pub sse_chunks: usize,
    pub sse_interval: Duration,
    pub log_requests: bool,
    pub check_project_access: bool,
    pub metadata_project: Option<String>,
    pub controls: Mutex<Controls>,
    /// While true, the OAuth endpoint holds its answers (the token request is recorded first).
    pub token_answers_held: tokio::sync::watch::Sender<bool>,
    pub tokens: Mutex<TokenStore>,
    pub records: Mutex<Records>,
    /// Caches, jobs and operations created through the emulated Vertex API.
    pub resources: Mutex<super::vertex_resources::Resources>,
    arrivals: AtomicU64,
    tasks: Mutex<JoinSet<()>>,
}

/// A panic in one connection task must not make every later lock fail; the data stays usable.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) struct SharedConfig {
    pub accounts: Vec<KnownAccount>,
    pub authorized_users: Vec<AuthorizedUser>,
    pub sse_chunks: usize,
    pub sse_interval: Duration,
    pub log_requests: bool,
    pub check_project_access: bool,
    pub metadata_project: Option<String>,
    pub token_lifetime_s: u64,
}

impl Shared {
    pub fn new(config: SharedConfig) -> Self {
        Shared {
            accounts: config.accounts,
            authorized_users: config.authorized_users,
            sse_chunks: config.sse_chunks,
            sse_interval: config.sse_interval,
            log_requests: config.log_requests,
            check_project_access: config.check_project_access,
            metadata_project: config.metadata_project,
            controls: Mutex::new(Controls {
                token_behaviour: TokenBehaviour::Issue,
                token_lifetime_s: config.token_lifetime_s,
                expires_in_as_string: false,
                vertex_overrides: VecDeque::new(),
                exhausted: Vec::new(),
            }),
            token_answers_held: tokio::sync::watch::Sender::new(false),
            tokens: Mutex::new(TokenStore::default()),
            records: Mutex::new(Records::default()),
            resources: Mutex::default(),
            arrivals: AtomicU64::new(0),
            tasks: Mutex::new(JoinSet::new()),
        }
    }

    /// The next number in the order requests arrived, whichever endpoint they reached: tests
    /// compare these, not times, to know what came before what.
    pub fn next_arrival(&self) -> u64 {
        self.arrivals.fetch_add(1, Ordering::Relaxed)
    }

    /// Every task the emulator starts goes here, so dropping the emulator stops all of them.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut tasks = lock(&self.tasks);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(task);
    }

    pub fn abort_all(&self) {
        lock(&self.tasks).abort_all();
    }

    /// One line a request: never a token, a key or a body.
    pub fn log(&self, endpoint: &str, method: &str, path: &str, status: u16) {
        if self.log_requests {
            eprintln!("google-emulator: {endpoint} {method} {path} {status}");
        }
    }

    /// Whether a token issued to `subject` may be used on `project`. An identity with a project
    /// of its own (a service account's `project_id`, an authorized user's `quota_project_id`,
    /// the metadata server's instance project) may use only that one (Google would answer 403
    /// for the others).
    pub fn may_use_project(&self, subject: &str, project: &str) -> bool {
        if !self.check_project_access {
            return true;
        }
        let account = self
            .accounts
            .iter()
            .find(|account| account.key.client_email == subject)
            .map(|account| account.key.project_id.as_deref());
        let user = || {
            self.authorized_users
                .iter()
                .find(|user| user.client_id == subject)
                .map(|user| user.quota_project_id.as_deref())
        };
        let instance = || (subject == METADATA_SUBJECT).then_some(self.metadata_project.as_deref());
        match account.or_else(user).or_else(instance).flatten() {
            Some(own_project) => own_project == project,
            None => true,
        }
    }
}
