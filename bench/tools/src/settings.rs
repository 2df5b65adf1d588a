//! What one `make bench` does, overridable from the environment (e.g. `BENCH_RUNS=5 make bench`).

pub struct Settings {
    /// Rounds of the REST load (each variant once per round).
    pub runs: usize,
    pub seconds: u64,
    pub warmup_seconds: u64,
    pub threads: u32,
    pub connections: u32,
    pub single_runs: usize,
    pub single_seconds: u64,
    pub sse_requests: usize,
    pub ws_sessions: usize,
    pub ws_seconds: u64,
    pub ws_rounds: usize,
    pub cold_requests: usize,
    /// Requests counted per variant under callgrind.
    pub callgrind_requests: usize,
    /// Envoy's `--concurrency`.
    pub concurrency: u32,
    /// `BENCH_PHASES=rest,sse,ws,cold,instructions` (the default: all): a quicker look at one thing while
    /// working on it; the report then has holes.
    pub phases: Vec<String>,
    /// `BENCH_VARIANTS=floor,ours,cand` (the default: all): the variants the instructions phase
    /// counts, by their short names.
    pub variants: Option<Vec<String>>,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Settings {
    pub fn from_env() -> Settings {
        Settings {
            runs: env("BENCH_RUNS", 3),
            seconds: env("BENCH_SECONDS", 10),
            warmup_seconds: env("BENCH_WARMUP_SECONDS", 2),
            threads: env("BENCH_THREADS", 2),
            connections: env("BENCH_CONNECTIONS", 32),
            single_runs: env("BENCH_SINGLE_RUNS", 3),
            single_seconds: env("BENCH_SINGLE_SECONDS", 3),
            sse_requests: env("BENCH_SSE_REQUESTS", 150),
            ws_sessions: env("BENCH_WS_SESSIONS", 100),
            ws_seconds: env("BENCH_WS_SECONDS", 8),
            ws_rounds: env("BENCH_WS_ROUNDS", 2),
            cold_requests: env("BENCH_COLD_REQUESTS", 1000),
            callgrind_requests: env("BENCH_CALLGRIND_REQUESTS", 500),
            concurrency: env("BENCH_CONCURRENCY", 2),
            phases: env("BENCH_PHASES", "rest,sse,ws,cold,instructions".to_string())
                .split(',')
                .map(|p| p.trim().to_string())
                .collect(),
            variants: std::env::var("BENCH_VARIANTS")
                .ok()
                .filter(|v| !v.trim().is_empty())
                .map(|v| v.split(',').map(|k| k.trim().to_string()).collect()),
        }
    }

    pub fn runs_phase(&self, phase: &str) -> bool {
        self.phases.iter().any(|p| p == phase)
    }

    /// Whether the instructions phase counts `key` (a `Variant::key`).
    pub fn counts_variant(&self, key: &str) -> bool {
        self.variants
            .as_ref()
            .is_none_or(|keys| keys.iter().any(|k| k == key))
    }
}
