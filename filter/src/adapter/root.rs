//! The root context: loads the configuration, owns the worker state, runs the token ticks.

use super::host::ProxyWasm;
use super::http::Http;
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{BufferType, ContextType};
use std::rc::Rc;
use vertex_passthrough_core::config::Config;
use vertex_passthrough_core::host::Host;
use vertex_passthrough_core::token::broker::IDLE_TICK;
use vertex_passthrough_core::worker::WorkerState;

pub struct Root {
    worker: Option<Rc<WorkerState<ProxyWasm>>>,
}

impl Root {
    pub fn new() -> Root {
        Root { worker: None }
    }
}

impl Context for Root {
    fn on_http_call_response(
        &mut self,
        callout: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some(worker) = &self.worker else { return };
        let host = &worker.proxy.host;
        let status = host.call_response_status();
        let body = host.call_response_body(body_size);
        worker
            .tokens
            .on_fetch_done(&worker.proxy, callout, status, &body);
    }
}

impl RootContext for Root {
    fn on_vm_start(&mut self, _vm_configuration_size: usize) -> bool {
        // Format log lines only at the level Envoy will print.
        if let Ok(level) = hostcalls::get_log_level() {
            proxy_wasm::set_log_level(level);
        }
        log::info!("vertex-passthrough {} started", env!("CARGO_PKG_VERSION"));
        true
    }

    fn on_configure(&mut self, plugin_configuration_size: usize) -> bool {
        let json = hostcalls::get_buffer(
            BufferType::PluginConfiguration,
            0,
            plugin_configuration_size,
        )
        .ok()
        .flatten()
        .unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok();
        match Config::load(&json, &env) {
            Ok(config) => {
                log::info!(
                    "vertex-passthrough configured: {} model aliases ({} with several deployments), {} credentials ({}), {} projects",
                    config.aliases.len(),
                    config.pools.len(),
                    config.credentials.len(),
                    config.credentials.iter().map(|c| format!("{}: {}", c.name, c.kind())).collect::<Vec<_>>().join(", "),
                    config.projects.len()
                );
                let worker = WorkerState::new(ProxyWasm, config);
                worker.proxy.host.set_tick_period(IDLE_TICK);
                self.worker = Some(Rc::new(worker));
                true
            }
            Err(error) => {
                log::error!("vertex-passthrough: {error}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        if let Some(worker) = &self.worker {
            worker.on_tick();
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        let worker = self.worker.clone()?;
        Some(Box::new(Http::new(context_id, worker)))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}
