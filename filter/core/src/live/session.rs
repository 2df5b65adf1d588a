//! One Gemini Live session through the filter: the client's setup rewritten on its way up,
//! then both directions passed on untouched while they are counted.

use super::setup;
use super::{
    carries_setup, close_frame, resolve_setup_model, rewrite_checked_setup, ClientGate,
    CloseDecision, Direction, FirstMessage, FirstMessageReader, GateStep, LiveObserver, Totals,
};
use crate::client_auth::Client;
use crate::config::Config;
use crate::metrics::{LiveMetrics, Metrics};
use crate::routing::LiveTarget;
use crate::usage::Usage;
use std::rc::Rc;

/// A first message larger than this is refused: a setup is a few KiB.
const FIRST_MESSAGE_LIMIT: usize = 64 * 1024;
/// A later client message is held until complete (it may carry a setup): at most this much.
const MESSAGE_LIMIT: usize = 16 * 1024 * 1024;
const CLOSE_PROTOCOL_ERROR: u16 = 1002;
const CLOSE_TOO_BIG: u16 = 1009;

enum Phase {
    /// Buffering client bytes until the first data message is complete.
    AwaitingSetup(FirstMessageReader),
    /// Later messages pass through the gate.
    Streaming,
    /// The setup was refused: upstream got a close frame; the client gets this one in place of
    /// whatever upstream answers.
    Refused {
        client_close: Vec<u8>,
        delivered: bool,
    },
    /// The stream ended; the session was counted and logged.
    Closed,
}

/// Where a session is, for tests and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseName {
    AwaitingSetup,
    Streaming,
    Refused,
    Closed,
}

pub struct LiveSession {
    target: LiveTarget,
    /// Whose key opened the session: what its setups may name.
    caller: Rc<Client>,
    phase: Phase,
    gate: ClientGate,
    client: LiveObserver,
    server: LiveObserver,
    opened_at_ms: Option<u64>,
    /// The model the setup was forwarded with.
    model: Option<String>,
    mask_seed: u64,
}

/// What the adapter does with the request-direction bytes it was shown.
pub enum ClientStep {
    /// Let Envoy keep buffering: the first message is not complete yet.
    Buffer,
    /// Replace the buffered bytes with these and continue.
    Replace(Vec<u8>),
    /// Pass the bytes on as they are.
    Pass,
}

impl LiveSession {
    pub fn new(target: LiveTarget, caller: Rc<Client>, mask_seed: u64) -> LiveSession {
        LiveSession {
            target,
            caller,
            phase: Phase::AwaitingSetup(FirstMessageReader::new(FIRST_MESSAGE_LIMIT)),
            gate: ClientGate::new(MESSAGE_LIMIT),
            client: LiveObserver::new(Direction::ClientToServer),
            server: LiveObserver::new(Direction::ServerToClient),
            opened_at_ms: None,
            model: None,
            mask_seed,
        }
    }

    pub fn phase(&self) -> PhaseName {
        match self.phase {
            Phase::AwaitingSetup(_) => PhaseName::AwaitingSetup,
            Phase::Streaming => PhaseName::Streaming,
            Phase::Refused { .. } => PhaseName::Refused,
            Phase::Closed => PhaseName::Closed,
        }
    }

    /// Whose key opened the session.
    pub fn caller(&self) -> &Client {
        &self.caller
    }

    /// The tokens Vertex reported for this session so far.
    pub fn total_tokens(&self) -> u64 {
        self.server.totals().total_tokens
    }

    /// The tokens Vertex reported for this session so far, by kind.
    pub fn usage(&self) -> Usage {
        let totals = self.server.totals();
        Usage {
            prompt_tokens: totals.prompt_tokens,
            response_tokens: totals.response_tokens,
            total_tokens: totals.total_tokens,
        }
    }

    /// The model the setup was forwarded with.
    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    /// Upstream accepted the upgrade.
    pub fn opened(&mut self, now_ms: u64, metrics: &Metrics) {
        self.opened_at_ms = Some(now_ms);
        metrics.live.sessions_opened.increment();
    }

    /// Client bytes: everything buffered so far while awaiting the setup, else the new chunk.
    pub fn on_client_bytes(
        &mut self,
        bytes: &[u8],
        end_of_stream: bool,
        config: &Config,
        metrics: &Metrics,
    ) -> ClientStep {
        match &mut self.phase {
            Phase::Streaming => self.through_gate(Vec::new(), bytes, config, metrics),
            Phase::Refused { .. } | Phase::Closed => ClientStep::Replace(Vec::new()),
            Phase::AwaitingSetup(reader) => match reader.read(bytes) {
                FirstMessage::NeedMore if end_of_stream => {
                    self.through_gate(Vec::new(), bytes, config, metrics)
                }
                FirstMessage::NeedMore => ClientStep::Buffer,
                FirstMessage::Closed => self.through_gate(Vec::new(), bytes, config, metrics),
                FirstMessage::TooLarge => self.refuse(
                    Vec::new(),
                    CLOSE_TOO_BIG,
                    "the first message must be a setup of at most 64 KiB",
                    metrics,
                ),
                FirstMessage::Invalid(reason) => {
                    self.refuse(Vec::new(), CLOSE_PROTOCOL_ERROR, reason, metrics)
                }
                FirstMessage::Complete {
                    leading_control,
                    payload,
                    opcode,
                    consumed,
                } => {
                    let (target, caller) = (&self.target, &self.caller);
                    let mut resolved = None;
                    let rewritten = rewrite_checked_setup(
                        &payload,
                        |model| {
                            let full = resolve_for(config, target, caller, model)?;
                            resolved = Some(full.clone());
                            Ok(full)
                        },
                        |project| serves(config, caller, project),
                    );
                    match rewritten {
                        Ok(new_payload) => {
                            self.model = resolved;
                            let mut out = leading_control;
                            out.extend_from_slice(&setup::encode(
                                &new_payload,
                                opcode,
                                next_mask(&mut self.mask_seed),
                            ));
                            let rest = bytes.get(consumed..).unwrap_or_default();
                            self.through_gate(out, rest, config, metrics)
                        }
                        Err(close) => self.refuse(Vec::new(), close.code, &close.reason, metrics),
                    }
                }
            },
        }
    }

    /// `head` (already decided) and then `bytes` through the gate: every later message that
    /// carries a setup is checked like the first; nothing goes after the client's Close.
    fn through_gate(
        &mut self,
        head: Vec<u8>,
        bytes: &[u8],
        config: &Config,
        metrics: &Metrics,
    ) -> ClientStep {
        self.phase = Phase::Streaming;
        let (target, caller) = (&self.target, &self.caller);
        let mut check = |payload: &[u8]| -> Result<Option<Vec<u8>>, CloseDecision> {
            if !carries_setup(payload) {
                return Ok(None);
            }
            rewrite_checked_setup(
                payload,
                |model| resolve_for(config, target, caller, model),
                |project| serves(config, caller, project),
            )
            .map(Some)
        };
        let seed = &mut self.mask_seed;
        let step = self.gate.feed(bytes, &mut check, &mut || next_mask(seed));
        let (out, refused) = match step {
            GateStep::Pass if head.is_empty() => {
                self.observe_client(bytes, metrics);
                return ClientStep::Pass;
            }
            GateStep::Pass => ([head.as_slice(), bytes].concat(), None),
            GateStep::Replace(passed) => ([head, passed].concat(), None),
            GateStep::Refuse(passed, decision) => ([head, passed].concat(), Some(decision)),
        };
        self.observe_client(&out, metrics);
        match refused {
            Some(decision) => self.refuse(out, decision.code, &decision.reason, metrics),
            None => ClientStep::Replace(out),
        }
    }

    fn observe_client(&mut self, bytes: &[u8], metrics: &Metrics) {
        self.client.observe(bytes);
        add(
            &metrics.live,
            self.client.take_increments(),
            Direction::ClientToServer,
        );
    }

    /// Upstream gets `forwarded`, then a close frame; the client gets the close in place of
    /// whatever upstream answers.
    fn refuse(
        &mut self,
        mut forwarded: Vec<u8>,
        code: u16,
        reason: &str,
        metrics: &Metrics,
    ) -> ClientStep {
        metrics.live.setups_refused.increment();
        log::info!("vertex-passthrough: Live setup refused ({code}): {reason}");
        forwarded.extend(close_frame(
            code,
            reason,
            Some(next_mask(&mut self.mask_seed)),
        ));
        self.phase = Phase::Refused {
            client_close: close_frame(code, reason, None),
            delivered: false,
        };
        ClientStep::Replace(forwarded)
    }

    /// Server bytes, chunk by chunk. `Some` replaces the chunk.
    pub fn on_server_bytes(&mut self, chunk: &[u8], metrics: &Metrics) -> Option<Vec<u8>> {
        if let Phase::Closed = self.phase {
            return Some(Vec::new());
        }
        if let Phase::Refused {
            client_close,
            delivered,
        } = &mut self.phase
        {
            // Upstream saw only our close frame and answers it; the client gets our reason.
            let replacement = if *delivered {
                Vec::new()
            } else {
                std::mem::take(client_close)
            };
            *delivered = true;
            return Some(replacement);
        }
        self.server.observe(chunk);
        add(
            &metrics.live,
            self.server.take_increments(),
            Direction::ServerToClient,
        );
        None
    }

    /// The stream ended: count it and log one line, never content; once.
    pub fn closed(&mut self, now_ms: u64, metrics: &Metrics) {
        self.phase = Phase::Closed;
        let Some(opened_at) = self.opened_at_ms.take() else {
            return;
        };

        metrics.live.sessions_closed.increment();
        let (client, server) = (self.client.totals(), self.server.totals());
        log::info!(
            "vertex-passthrough: Live session closed: alias={} model={} project={} location={} duration_ms={} client_messages={} server_messages={} client_bytes={} server_bytes={} prompt_tokens={} response_tokens={} total_tokens={}",
            self.target.alias.as_deref().unwrap_or("-"),
            self.model.as_deref().or(self.target.model.as_deref()).unwrap_or("-"),
            self.target.project,
            self.target.location,
            now_ms.saturating_sub(opened_at),
            client.messages,
            server.messages,
            client.bytes,
            server.bytes,
            server.prompt_tokens,
            server.response_tokens,
            server.total_tokens,
        );
    }
}

/// The setup's model resolved for this session, if the caller's key may use it and reach its
/// project.
fn resolve_for(
    config: &Config,
    target: &LiveTarget,
    caller: &Client,
    model: &str,
) -> Result<String, String> {
    let full = resolve_setup_model(config, target, model)?;
    // As for a REST path: the alias or model id the client named.
    let named = super::model_name::parse(model)
        .map(|named| named.model)
        .unwrap_or(model);
    if !caller.may_use_model(named) {
        return Err(model_not_allowed(named));
    }
    let project = full
        .strip_prefix("projects/")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_default();
    if !caller.may_reach_project(project) {
        return Err(format!(
            "this API key may not reach project {}",
            super::setup::shown_project(project)
        ));
    }
    Ok(full)
}

/// Why a key may not use `model`; short enough for a close frame's reason.
pub fn model_not_allowed(model: &str) -> String {
    let shown: String = model.chars().take(64).collect();
    format!("this API key may not use model {shown}")
}

fn serves(config: &Config, caller: &Client, project: &str) -> bool {
    config.projects.contains_key(project) && caller.may_reach_project(project)
}

/// A fresh masking key per frame we write (splitmix64 over a per-session seed): masks only
/// have to be unpredictable to the peer's intermediaries, not secret.
fn next_mask(seed: &mut u64) -> [u8; 4] {
    *seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let [a, b, c, d, ..] = (z ^ (z >> 31)).to_le_bytes();
    [a, b, c, d]
}

fn add(metrics: &LiveMetrics, increments: Totals, direction: Direction) {
    if increments.is_zero() {
        return;
    }
    let (messages, bytes) = match direction {
        Direction::ClientToServer => (&metrics.client_messages, &metrics.client_bytes),
        Direction::ServerToClient => (&metrics.server_messages, &metrics.server_bytes),
    };
    messages.add(increments.messages);
    bytes.add(increments.bytes);
    metrics.prompt_tokens.add(increments.prompt_tokens);
    metrics.response_tokens.add(increments.response_tokens);
    metrics.total_tokens.add(increments.total_tokens);
}

#[cfg(test)]
mod tests;
