//! The lines `make bench` prints at the end, and the targets, met or not.

use crate::report::{by_variant, Results, RPS_RATIOS, WASM_LIMIT_BYTES};
use crate::variant::Variant;
use std::fmt::Write;

pub struct Target {
    pub name: &'static str,
    pub measured: String,
    pub met: bool,
}

impl Results<'_> {
    /// The summary printed at the end of `make bench`.
    pub fn summary(&self) -> String {
        let h = self.headline();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "\nmake bench: REST (wrk -t{} -c{}, {} × {} s, medians)",
            self.settings.threads,
            self.settings.connections,
            self.settings.runs,
            self.settings.seconds
        );
        for &v in Variant::all() {
            let p50 = by_variant(&self.rest.loaded, |r| r.p50_us / 1000.0)[&v];
            let _ = writeln!(
                out,
                "  {:<8} {:>8.0} req/s  p50 {:.2} ms  p99 {:.2} ms  Envoy CPU {:.1} µs/req",
                v.key(),
                h.rps[&v],
                p50,
                h.p99_ms[&v],
                h.cpu_us[&v]
            );
        }
        let r = |a: Variant, b: Variant| h.rps[&a] / h.rps[&b];
        let ratios: Vec<String> = RPS_RATIOS
            .iter()
            .map(|(label, a, b)| format!("{label} {:.3}", r(*a, *b)))
            .collect();
        let _ = writeln!(out, "  ratios: {}", ratios.join("  "));
        if self.wasm_candidate.is_some() {
            let _ = writeln!(
                out,
                "  candidate: cand/floor {:.3}  cand-sa/floor {:.3}  cand/ours {:.3}  cand-sa/ours-sa {:.3}",
                r(Variant::Candidate, Variant::Floor),
                r(Variant::CandidateSa, Variant::Floor),
                r(Variant::Candidate, Variant::Ours),
                r(Variant::CandidateSa, Variant::OursSa)
            );
        }
        if let (Some(floor), Some(ours)) = (
            self.instructions.get(&Variant::Floor),
            self.instructions.get(&Variant::Ours),
        ) {
            let counts: Vec<String> = Variant::all()
                .iter()
                .chain(&Variant::PICKS)
                .filter_map(|v| Some(format!("{} {:.0}", v.key(), self.instructions.get(v)?)))
                .collect();
            let _ = writeln!(
                out,
                "  instructions per request (callgrind, 1 worker): {}; floor/ours {:.3}",
                counts.join("  "),
                floor / ours
            );
        }
        if let Some(floor) = self.live_instructions.get(&Variant::Floor) {
            let counts: Vec<String> = Variant::all()
                .iter()
                .filter_map(|v| {
                    let n = self.live_instructions.get(v)?;
                    Some(format!("{} {n:.0} ({:.3})", v.key(), floor / n))
                })
                .collect();
            let _ = writeln!(
                out,
                "  instructions per Live round trip (callgrind, 1 worker; floor ÷ this): {}",
                counts.join("  ")
            );
        }
        let _ = writeln!(out, "  targets:");
        for t in self.targets() {
            let _ = writeln!(
                out,
                "    [{}] {}: {}",
                if t.met { "met" } else { "NOT met" },
                t.name,
                t.measured
            );
        }
        out
    }

    pub fn targets(&self) -> Vec<Target> {
        let h = self.headline();
        let ratio = |a: Variant, b: Variant| h.rps[&a] / h.rps[&b];
        let ws = h.ws_rate[&Variant::Ours] / h.ws_rate[&Variant::Bare];
        let p99_added = h.p99_ms[&Variant::Ours] - h.p99_ms[&Variant::Bare];
        let single_p99_added = h.single_p99_ms[&Variant::Ours] - h.single_p99_ms[&Variant::Bare];
        let floor_per_ours_instructions = self
            .instructions
            .get(&Variant::Floor)
            .zip(self.instructions.get(&Variant::Ours))
            .map(|(floor, ours)| floor / ours);
        vec![
            Target {
                name: "requests/s ≥ 0.95 × bare",
                measured: format!(
                    "{:.3} × (with `service_account`: {:.3} ×)",
                    ratio(Variant::Ours, Variant::Bare),
                    ratio(Variant::OursSa, Variant::Bare)
                ),
                met: ratio(Variant::Ours, Variant::Bare) >= 0.95,
            },
            Target {
                name: "requests/s ≥ 0.97 × floor (docs/design.md)",
                measured: format!(
                    "{:.3} × (with `service_account`: {:.3} ×)",
                    ratio(Variant::Ours, Variant::Floor),
                    ratio(Variant::OursSa, Variant::Floor)
                ),
                met: ratio(Variant::Ours, Variant::Floor) >= 0.97,
            },
            Target {
                name: "instructions per request ≤ floor ÷ 0.97 (the noise-free form of the line above)",
                measured: floor_per_ours_instructions.map_or_else(
                    || "not measured (BENCH_PHASES without instructions)".to_string(),
                    |r| format!("floor ÷ ours = {r:.3}"),
                ),
                met: floor_per_ours_instructions.is_some_and(|r| r >= 0.97),
            },
            Target {
                name: "p99 added ≤ 0.2 ms",
                measured: format!(
                    "{:+.3} ms at {} connections (median p99s); at 1 connection p99 {:+.3} ms, p50 {:+.3} ms",
                    p99_added,
                    self.settings.connections,
                    single_p99_added,
                    h.single_p50_ms[&Variant::Ours] - h.single_p50_ms[&Variant::Bare]
                ),
                met: p99_added <= 0.2,
            },
            Target {
                name: "one token request on a cold start",
                measured: format!(
                    "{} token request(s) for {} concurrent requests",
                    self.cold.token_requests, self.cold.requests
                ),
                met: self.cold.token_requests == 1,
            },
            Target {
                name: "WebSocket messages/s ≥ 0.95 × bare",
                measured: format!("{ws:.3} ×"),
                met: ws >= 0.95,
            },
            Target {
                name: ".wasm ≤ 600 KiB",
                measured: format!("{:.1} KiB ({} bytes)", self.wasm_ours as f64 / 1024.0, self.wasm_ours),
                met: self.wasm_ours <= WASM_LIMIT_BYTES,
            },
        ]
    }
}
