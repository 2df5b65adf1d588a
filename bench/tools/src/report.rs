//! bench/RESULTS.md and the summary printed at the end.

use crate::cold::ColdResult;
use crate::envoy::Memory;
use crate::machine::{Background, Summary};
use crate::rest::RestResults;
use crate::settings::Settings;
use crate::sse::SseResult;
use crate::stats::{median, percentile, percentile_sorted, spread};
use crate::variant::Variant;
use crate::wrk::WrkResult;
use crate::ws::WsResult;
use std::collections::HashMap;
use std::fmt::Write;

pub const WASM_LIMIT_BYTES: u64 = 600 * 1024;

/// The requests/s ratios both the report and the console summary print, in their order.
pub const RPS_RATIOS: [(&str, Variant, Variant); 5] = [
    ("ours/bare", Variant::Ours, Variant::Bare),
    ("ours/floor", Variant::Ours, Variant::Floor),
    ("floor/bare", Variant::Floor, Variant::Bare),
    ("ours-sa/bare", Variant::OursSa, Variant::Bare),
    ("ours-sa/floor", Variant::OursSa, Variant::Floor),
];

pub struct Results<'a> {
    pub date: String,
    pub machine: Summary,
    pub background_before: Background,
    pub background_after: Background,
    pub settings: &'a Settings,
    pub rest: RestResults,
    pub sse: HashMap<Variant, SseResult>,
    pub ws: HashMap<Variant, Vec<WsResult>>,
    pub cold: ColdResult,
    /// Instructions per request under callgrind; empty when that phase did not run.
    pub instructions: HashMap<Variant, f64>,
    /// Instructions per Live round trip under callgrind; empty when that phase did not run.
    pub live_instructions: HashMap<Variant, f64>,
    pub wasm_ours: u64,
    pub wasm_floor: u64,
    pub wasm_candidate: Option<u64>,
    pub memory_start: HashMap<Variant, Memory>,
    pub memory_after: HashMap<Variant, Memory>,
    pub minutes: f64,
}

/// The numbers the targets and the summary are made of.
pub(crate) struct Headline {
    pub(crate) rps: HashMap<Variant, f64>,
    pub(crate) p99_ms: HashMap<Variant, f64>,
    pub(crate) single_p50_ms: HashMap<Variant, f64>,
    pub(crate) single_p99_ms: HashMap<Variant, f64>,
    pub(crate) cpu_us: HashMap<Variant, f64>,
    pub(crate) ws_rate: HashMap<Variant, f64>,
}

pub(crate) fn by_variant(
    runs: &HashMap<Variant, Vec<WrkResult>>,
    f: impl Fn(&WrkResult) -> f64,
) -> HashMap<Variant, f64> {
    Variant::all()
        .iter()
        .map(|v| {
            let values: Vec<f64> = runs
                .get(v)
                .map(|r| r.iter().map(&f).collect())
                .unwrap_or_default();
            (*v, median(&values))
        })
        .collect()
}

impl Results<'_> {
    pub(crate) fn headline(&self) -> Headline {
        Headline {
            rps: by_variant(&self.rest.loaded, WrkResult::rps),
            p99_ms: by_variant(&self.rest.loaded, |r| r.p99_us / 1000.0),
            single_p50_ms: by_variant(&self.rest.single, |r| r.p50_us / 1000.0),
            single_p99_ms: by_variant(&self.rest.single, |r| r.p99_us / 1000.0),
            cpu_us: by_variant(&self.rest.loaded, WrkResult::envoy_cpu_us_per_request),
            ws_rate: Variant::all()
                .iter()
                .map(|v| {
                    let rates: Vec<f64> = self
                        .ws
                        .get(v)
                        .map(|r| r.iter().map(WsResult::round_trips_per_s).collect())
                        .unwrap_or_default();
                    (*v, median(&rates))
                })
                .collect(),
        }
    }

    /// The callgrind section: instructions per request, a measure the shared machine's noise
    /// does not move.
    fn write_instructions(&self, o: &mut String) {
        let ins = &self.instructions;
        let (Some(bare), Some(floor), Some(ours)) = (
            ins.get(&Variant::Bare),
            ins.get(&Variant::Floor),
            ins.get(&Variant::Ours),
        ) else {
            return;
        };
        let _ = writeln!(o, "\n## Instructions per request (callgrind)\n");
        let _ = writeln!(
            o,
            "Each Envoy again, with one worker, under `valgrind --tool=callgrind`: {} requests on one connection, counted after {} warm-up requests (so V8 has compiled the hot code). \
             Envoy's user-space instructions are counted, the filter's compiled Wasm among them (the kernel's are not); the count does not move with what the neighbours do; between runs of one variant it moves by up to 2%, where requests/s above move by up to 30%.\n",
            self.settings.callgrind_requests,
            crate::instructions::WARMUP_REQUESTS
        );
        let _ = writeln!(
            o,
            "| Envoy with | instructions per request | × bare | floor ÷ this |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|");
        for &v in Variant::all().iter().chain(&Variant::PICKS) {
            if let Some(n) = ins.get(&v) {
                let _ = writeln!(
                    o,
                    "| {} | {:.0} | {:.3} | {:.3} |",
                    v.label(),
                    n,
                    n / bare,
                    floor / n
                );
            }
        }
        let _ = writeln!(
            o,
            "\nWasm itself (floor − bare) {:+.0}; our logic (ours − floor) {:+.0} instructions per request{}.",
            floor - bare,
            ours - floor,
            ins.get(&Variant::OursSa)
                .map(|sa| format!("; the `service_account` path (ours-sa − ours: the response status read for 401s, the clock and the refusal count) {:+.0}", sa - ours))
                .unwrap_or_default()
        );
        if let Some(live_floor) = self.live_instructions.get(&Variant::Floor) {
            let _ = writeln!(
                o,
                "\nIn the same Envoys, one Live session (the setup, then {} round trips counted after {} warm-up ones; a round trip is the `clientContent` turn and the `serverContent` answer with `usageMetadata`, as in the WebSocket section):\n",
                self.settings.callgrind_requests,
                crate::instructions::WARMUP_REQUESTS
            );
            let _ = writeln!(
                o,
                "| Envoy with | instructions per Live round trip | floor ÷ this |"
            );
            let _ = writeln!(o, "|---|---:|---:|");
            for &v in Variant::all() {
                if let Some(n) = self.live_instructions.get(&v) {
                    let _ = writeln!(o, "| {} | {:.0} | {:.3} |", v.label(), n, live_floor / n);
                }
            }
        }
        let difference = |a: Variant, b: Variant| Some(ins.get(&a)? - ins.get(&b)?);
        if let (Some(pool), Some(pool_sa)) = (
            difference(Variant::OursPool, Variant::Ours),
            difference(Variant::OursPoolSa, Variant::OursSa),
        ) {
            let _ = writeln!(
                o,
                "\nAn alias with two deployments against a path with one: {pool:+.0} with `access_token` (ours-pool − ours: the pick, the count of shared changes and the response status, which the `access_token` path reads only for a pool), {pool_sa:+.0} with `service_account` (ours-pool-sa − ours-sa: the pick alone; the token path reads the count and the status already)."
            );
        }
        if let (Some(resource), Some(openai)) = (
            difference(Variant::OursResource, Variant::Ours),
            difference(Variant::OursOpenai, Variant::Ours),
        ) {
            let _ = writeln!(
                o,
                "\nOther calls against the model call, all with `access_token`: {resource:+.0} for a resource call (ours-resource − ours: a `GET` of a cached content, without the request body a model call has), {openai:+.0} for an OpenAI-compatible chat call (ours-openai − ours: the body read whole before the upstream is picked, its `model` alias rewritten; the Wasm filter with `allow_on_headers_stop_iteration`)."
            );
        }
        if let Some(named) = difference(Variant::OursNamed, Variant::Ours) {
            let _ = writeln!(
                o,
                "\nA named key with `models` against the plain key, on the same model call: {named:+.0} (ours-named − ours: the key's model check, the response body read as it passes (its status only when it reports no usage), the usage counted per client and model, the `tokens` filter state for the access log). ours-named-sse is the same key on an SSE stream of {} events, each read for its usage.",
                crate::upstream_server::SSE_EVENTS
            );
        }
    }

    pub fn markdown(&self) -> String {
        let s = self.settings;
        let h = self.headline();
        let m = &self.machine;
        let mut o = String::new();
        let _ = writeln!(o, "# `make bench` results\n");
        let _ = writeln!(
            o,
            "Written by `make bench` ({}; the measurements took {:.1} minutes). Command: `make bench` (= `scripts/bench-setup.sh`, \
             the two `.wasm` builds, then `target/release/vp-bench --out bench/RESULTS.md`; settings \
             can be changed with `BENCH_*` variables, see `bench/tools/src/settings.rs`).\n",
            self.date, self.minutes
        );
        let _ = writeln!(o, "## Machine\n");
        let _ = writeln!(
            o,
            "- {}, {} cores, {:.1} GiB memory, Linux {}",
            m.cpu, m.cores, m.memory_gib, m.kernel
        );
        let _ = writeln!(
            o,
            "- Envoy {} (`--concurrency {}`), wrk {}, nginx {}, {}",
            m.envoy, s.concurrency, m.wrk, m.nginx, m.rustc
        );
        let _ = writeln!(
            o,
            "- Shared machine: before the bench, other work kept {:.0}% of the CPUs busy (steal {:.1}%, load average {:.2}); after it, {:.0}% (steal {:.1}%, load average {:.2}). \
             Load generator, upstreams and Envoy all share these {} cores, so absolute numbers move with the neighbours; ratios of alternating runs much less.\n",
            self.background_before.busy * 100.0,
            self.background_before.steal * 100.0,
            self.background_before.load_average,
            self.background_after.busy * 100.0,
            self.background_after.steal * 100.0,
            self.background_after.load_average,
            m.cores
        );

        let _ = writeln!(o, "## What is compared\n");
        let _ = writeln!(o, "Four Envoys run side by side with the same listener, routes, clusters, worker count and upstreams (configs: `.run/bench/envoy-*.json`, built by `bench/tools/src/envoy_config.rs`):\n");
        let _ = writeln!(
            o,
            "- **bare**: no filter; the route adds a static `authorization` header;"
        );
        let _ = writeln!(o, "- **floor**: `bench/floor-filter`, a Wasm filter that only reads `:path` and sets `:path`, `:authority`, `authorization` and `x-vertex-passthrough` (docs/design.md \"Performance\"); routes match the marker (built with the same release profile and `wasm-opt -O3` pass as ours);");
        let _ = writeln!(o, "- **ours**: vertex-passthrough (`target/wasm32-wasip1/release/vertex_passthrough.wasm`) with an `access_token` credential and one client key; routes match the marker;");
        let _ = writeln!(o, "- **ours-sa**: the same with a `service_account` credential (the emulator's OAuth endpoint minted the token once; every request then takes it from the worker's copy of the shared cache: the production hot path).\n");
        let _ = writeln!(o, "Upstreams on 127.0.0.1, plain HTTP: nginx (one process) answers REST with a small JSON body, and only if a bearer token arrived and the marker did not; `vp-bench upstream` serves SSE and the Live WebSocket. Every request is the google-genai SDK's form (`POST /vertex_ai/v1beta1/projects/proj-alpha/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent`, small JSON body, client key in `x-api-key`). Variants alternate, and the order rotates every round. \"Envoy CPU\" is the Envoy process's user + system time during the run divided by the requests served: it moves less than requests/s with what else runs on the machine (see Noise).\n");

        // REST
        let _ = writeln!(o, "## REST: requests/s and latency\n");
        let _ = writeln!(o, "wrk `-t{} -c{}`, POST, {} × {} s per variant, alternating (after a {} s warm-up each). Medians over the runs; p50/p99 from wrk's own histogram.\n", s.threads, s.connections, s.runs, s.seconds, s.warmup_seconds);
        let _ = writeln!(
            o,
            "| Envoy with | req/s (median) | req/s per run | p50 | p99 | Envoy CPU per request |"
        );
        let _ = writeln!(o, "|---|---:|---|---:|---:|---:|");
        for &v in Variant::all() {
            let runs = self.rest.loaded.get(&v).cloned().unwrap_or_default();
            let per_run: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rps())).collect();
            let p50 = median(&runs.iter().map(|r| r.p50_us / 1000.0).collect::<Vec<_>>());
            let _ = writeln!(
                o,
                "| {} | {:.0} | {} | {:.2} ms | {:.2} ms | {:.1} µs |",
                v.label(),
                h.rps[&v],
                per_run.join(", "),
                p50,
                h.p99_ms[&v],
                h.cpu_us[&v]
            );
        }
        let r = |a: Variant, b: Variant| h.rps[&a] / h.rps[&b];
        let c = |a: Variant, b: Variant| h.cpu_us[&a] - h.cpu_us[&b];
        let _ = writeln!(o, "\nRatios of median requests/s:\n");
        let labels: Vec<String> = RPS_RATIOS
            .iter()
            .map(|(l, _, _)| l.replace('/', " / "))
            .collect();
        let _ = writeln!(o, "| {} |", labels.join(" | "));
        let _ = writeln!(o, "|{}", "---:|".repeat(RPS_RATIOS.len()));
        let values: Vec<String> = RPS_RATIOS
            .iter()
            .map(|(_, a, b)| format!("{:.3}", r(*a, *b)))
            .collect();
        let _ = writeln!(o, "| {} |\n", values.join(" | "));
        if self.wasm_candidate.is_some() {
            let _ = writeln!(
                o,
                "Candidate build (`BENCH_CANDIDATE_WASM`, {} bytes): cand / floor {:.3}, cand-sa / floor {:.3}, cand / ours {:.3}, cand-sa / ours-sa {:.3}; Envoy CPU per request cand − ours {:+.1} µs, cand-sa − ours-sa {:+.1} µs.\n",
                self.wasm_candidate.unwrap_or(0),
                r(Variant::Candidate, Variant::Floor),
                r(Variant::CandidateSa, Variant::Floor),
                r(Variant::Candidate, Variant::Ours),
                r(Variant::CandidateSa, Variant::OursSa),
                c(Variant::Candidate, Variant::Ours),
                c(Variant::CandidateSa, Variant::OursSa)
            );
        }
        let _ = writeln!(
            o,
            "Envoy CPU per request: Wasm itself (floor − bare) {:+.1} µs; our logic (ours − floor) {:+.1} µs; the `service_account` path (ours-sa − ours) {:+.1} µs.\n",
            c(Variant::Floor, Variant::Bare),
            c(Variant::Ours, Variant::Floor),
            c(Variant::OursSa, Variant::Ours)
        );
        let _ = writeln!(
            o,
            "One connection (wrk `-t1 -c1`, {} × {} s, alternating): latency without queueing.\n",
            s.single_runs, s.single_seconds
        );
        let _ = writeln!(
            o,
            "| Envoy with | req/s | p50 | p99 | Envoy CPU per request |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|");
        let single_rps = by_variant(&self.rest.single, WrkResult::rps);
        let single_cpu = by_variant(&self.rest.single, WrkResult::envoy_cpu_us_per_request);
        for &v in Variant::all() {
            let _ = writeln!(
                o,
                "| {} | {:.0} | {:.0} µs | {:.0} µs | {:.1} µs |",
                v.label(),
                single_rps[&v],
                h.single_p50_ms[&v] * 1000.0,
                h.single_p99_ms[&v] * 1000.0,
                single_cpu[&v]
            );
        }

        // SSE
        let _ = writeln!(o, "\n## SSE: time to first byte\n");
        let _ = writeln!(
            o,
            "{} sequential `streamGenerateContent?alt=sse` calls per variant, interleaved, one kept-alive connection each; the upstream sends the first event at once and {} more {} ms apart (a proxy that buffered the stream would show a first byte near the stream's end).\n",
            s.sse_requests,
            crate::upstream_server::SSE_EVENTS - 1,
            crate::upstream_server::SSE_GAP.as_millis()
        );
        let _ = writeln!(
            o,
            "| Envoy with | first byte p50 | first byte p99 | stream end p50 |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|");
        for &v in Variant::all() {
            if let Some(r) = self.sse.get(&v) {
                let _ = writeln!(
                    o,
                    "| {} | {:.0} µs | {:.0} µs | {:.1} ms |",
                    v.label(),
                    percentile(&r.ttfb_us, 50.0),
                    percentile(&r.ttfb_us, 99.0),
                    percentile(&r.total_us, 50.0) / 1000.0
                );
            }
        }

        // WebSocket
        let _ = writeln!(o, "\n## WebSocket (Live API)\n");
        let _ = writeln!(
            o,
            "{} concurrent sessions on `{}`: upgrade, the setup `{}`, `setupComplete`, then each session in a closed loop sends a `clientContent` turn and waits for the upstream's `serverContent` answer (with `usageMetadata`), for {} s; {} rounds per variant, alternating. A round trip is those two messages.\n",
            s.ws_sessions,
            crate::variant::LIVE_PATH,
            crate::variant::LIVE_SETUP,
            s.ws_seconds,
            s.ws_rounds
        );
        let _ = writeln!(o, "| Envoy with | round trips/s (median) | per round | RTT p50 | RTT p99 | sessions ok | Envoy CPU per round trip |");
        let _ = writeln!(o, "|---|---:|---|---:|---:|---:|---:|");
        for &v in Variant::all() {
            let rounds = self.ws.get(&v).cloned().unwrap_or_default();
            let rtts: Vec<f64> = {
                let mut all: Vec<f64> = rounds
                    .iter()
                    .flat_map(|r| r.rtt_us.iter().copied())
                    .collect();
                all.sort_by(f64::total_cmp);
                all
            };
            let ok: usize = rounds.iter().map(|r| r.sessions_ok).sum();
            let total: usize = rounds.iter().map(|r| r.sessions).sum();
            let trips: u64 = rounds.iter().map(|r| r.round_trips).sum();
            let cpu: f64 = rounds.iter().map(|r| r.envoy_cpu_s).sum();
            let per_round: Vec<String> = rounds
                .iter()
                .map(|r| format!("{:.0}", r.round_trips_per_s()))
                .collect();
            let _ = writeln!(
                o,
                "| {} | {:.0} | {} | {:.2} ms | {:.2} ms | {ok}/{total} | {:.1} µs |",
                v.label(),
                h.ws_rate[&v],
                per_round.join(", "),
                percentile_sorted(&rtts, 50.0) / 1000.0,
                percentile_sorted(&rtts, 99.0) / 1000.0,
                cpu * 1e6 / trips.max(1) as f64
            );
        }
        let failures: Vec<String> = Variant::all()
            .iter()
            .flat_map(|v| {
                self.ws.get(v).into_iter().flatten().flat_map(move |r| {
                    r.failures
                        .iter()
                        .take(3)
                        .map(move |f| format!("{}: {f}", v.key()))
                })
            })
            .take(8)
            .collect();
        if !failures.is_empty() {
            let _ = writeln!(o, "\nSession failures (first few):\n");
            for f in failures {
                let _ = writeln!(o, "- {f}");
            }
        }

        self.write_instructions(&mut o);

        // Cold start
        let cold = &self.cold;
        let _ = writeln!(o, "\n## Cold start\n");
        let statuses: Vec<String> = cold
            .statuses
            .iter()
            .map(|(k, n)| format!("{n} × {k}"))
            .collect();
        let _ = writeln!(
            o,
            "A fresh Envoy with our filter and a `service_account` credential, a fresh token endpoint (the emulator's, verifying the RS256 assertion as Google does), and {} requests sent at once, each on its own connection.\n",
            cold.requests
        );
        let _ = writeln!(o, "| token requests at the token endpoint | filter's `token.fetches` | all complete after | per request p50 / p99 | answers |");
        let _ = writeln!(o, "|---:|---:|---:|---:|---|");
        let _ = writeln!(
            o,
            "| {} | {} | {:.0} ms | {:.0} / {:.0} ms | {}{} |",
            cold.token_requests,
            cold.token_fetches,
            cold.all_done_ms,
            cold.p50_ms,
            cold.p99_ms,
            statuses.join(", "),
            if cold.errors > 0 {
                format!(", {} connection errors", cold.errors)
            } else {
                String::new()
            }
        );

        // Size and memory
        let _ = writeln!(o, "\n## Size and memory\n");
        let _ = writeln!(
            o,
            "`.wasm`: vertex-passthrough {} bytes ({:.1} KiB); floor filter {} bytes ({:.1} KiB).\n",
            self.wasm_ours,
            self.wasm_ours as f64 / 1024.0,
            self.wasm_floor,
            self.wasm_floor as f64 / 1024.0
        );
        let _ = writeln!(o, "Envoy's allocated memory (admin `/memory`, `allocated`), right after start and after all the load above:\n");
        let _ = writeln!(
            o,
            "| Envoy with | after start | after load | heap size after load |"
        );
        let _ = writeln!(o, "|---|---:|---:|---:|");
        let mib = |b: u64| b as f64 / 1024.0 / 1024.0;
        for &v in Variant::all() {
            let start = self.memory_start.get(&v).copied().unwrap_or_default();
            let after = self.memory_after.get(&v).copied().unwrap_or_default();
            let _ = writeln!(
                o,
                "| {} | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
                v.label(),
                mib(start.allocated),
                mib(after.allocated),
                mib(after.heap_size)
            );
        }

        // Targets
        let _ = writeln!(o, "\n## Targets\n");
        let _ = writeln!(o, "| target | measured | |");
        let _ = writeln!(o, "|---|---|---|");
        for t in self.targets() {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                t.name,
                t.measured,
                if t.met { "met" } else { "**not met**" }
            );
        }

        // Noise
        let _ = writeln!(o, "\n## Noise\n");
        let _ = writeln!(
            o,
            "Spread of requests/s between the runs of one variant (max / min − 1):\n"
        );
        // Per variant, the spread of one measure of its REST runs.
        let spreads = |measure: fn(&WrkResult) -> f64| -> String {
            Variant::all()
                .iter()
                .map(|v| {
                    let values: Vec<f64> = self
                        .rest
                        .loaded
                        .get(v)
                        .map(|runs| runs.iter().map(measure).collect())
                        .unwrap_or_default();
                    format!("{} {:.1}%", v.key(), spread(&values) * 100.0)
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(o, "{}.\n", spreads(WrkResult::rps));
        let _ = writeln!(
            o,
            "The same for Envoy CPU per request: {}.\n",
            spreads(WrkResult::envoy_cpu_us_per_request)
        );
        let _ = writeln!(
            o,
            "A ratio between variants means something only beyond those spreads. Absolute requests/s differ by machine and by what else runs on it (see Machine): \
             bare Envoy itself takes about 196k user-space instructions per request (see Instructions), so compare runs by their ratios, by Envoy CPU per request and by instruction counts."
        );
        o
    }
}
