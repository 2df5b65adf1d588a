//! The proxy-wasm adapter: moves bytes between Envoy and the core, and nothing else.

mod host;
mod http;
mod live_session;
mod metrics;
mod root;
mod token_flow;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    // Until the root context asks Envoy for its level; the SDK's hook logs a panic at critical.
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(root::Root::new()) });
}}
