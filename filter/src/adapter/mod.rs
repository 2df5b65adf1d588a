//! The proxy-wasm adapter: the core's `Host` over proxy-wasm, and Envoy's callbacks handed to
//! the core; nothing else.

mod host;
mod http;
mod root;

use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    // Until the root context asks Envoy for its level; the SDK's hook logs a panic at critical.
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(root::Root::new()) });
}}
